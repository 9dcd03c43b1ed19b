// Compiles the product code to dist/ and copies the files tsc does not (Lua scripts).
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';

rmSync('dist', { recursive: true, force: true });
execFileSync('tsc', ['-p', 'tsconfig.build.json'], { stdio: 'inherit' });
cpSync('queue/lua', 'dist/queue/lua', { recursive: true });
