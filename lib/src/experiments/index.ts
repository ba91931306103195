export * from './data';
export * from './profile';
export * from './runs';
