/** RQ5's analysis: pure functions from run records and measurement rows to the numbers its verdict rests on. */
export {};
