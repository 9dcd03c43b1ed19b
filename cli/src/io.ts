// Where a command writes: results to stdout, messages and progress to stderr. The entry point binds it to the terminal.

export interface Io {
  /** one line of the command's result (stdout) */
  out(line: string): void;
  /** one line for people: notes, warnings, progress (stderr) */
  err(line: string): void;
  /** rewrites the current stderr line in place when stderr is a terminal */
  status(line: string): void;
  readonly stderrIsTTY: boolean;
  readonly env: NodeJS.ProcessEnv;
}
