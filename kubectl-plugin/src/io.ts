/** Where the plugin writes, what it reads from its environment, and its clock; injectable for tests. */
export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Whether stdout is a terminal (colour is only used there). */
  readonly stdoutIsTTY: boolean;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}
