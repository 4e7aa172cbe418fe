/** Kept for tests' imports: the helpers live in support/ (shared by tests and benchmarks). */
export * from '../support/redis.js';
