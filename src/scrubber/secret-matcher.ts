// The matcher lives in ./matcher; this path stays for the modules that import it.
export * from './matcher';
