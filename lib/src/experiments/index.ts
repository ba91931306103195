export * from './data';
export * from './profile';
export * from './runs';
export * from './sweep';
