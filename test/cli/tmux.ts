/**
 * A real pseudo-terminal for the command's tests: a command in a detached tmux session on a
 * private server, its screen read with `capture-pane`, keys sent with `send-keys`.
 */
import { execFileSync } from "node:child_process"

const TMUX = "/usr/bin/tmux"

export interface Terminal {
  /** The screen as it is now, one string. */
  readonly screen: () => string
  /** Resolves with the screen once `test` holds for it (polled every 100 ms), or rejects after `timeoutMs`. */
  readonly until: (test: (screen: string) => boolean, timeoutMs?: number) => Promise<string>
  readonly sendKeys: (...keys: ReadonlyArray<string>) => void
  readonly close: () => void
}

const quote = (arg: string): string => `'${arg.replace(/'/g, `'\\''`)}'`

/**
 * Starts `argv` in a terminal of `width`×`height`. When the command ends, the pane prints
 * `EXIT=<code>` and stays open, so a test can read both.
 */
export const openTerminal = (
  argv: ReadonlyArray<string>,
  options: {
    readonly cwd: string
    readonly env?: Record<string, string>
    readonly width?: number
    readonly height?: number
  }
): Terminal => {
  const socket = `taskflow-cli-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
  const tmux = (...args: ReadonlyArray<string>) =>
    execFileSync(TMUX, ["-L", socket, "-f", "/dev/null", ...args], { encoding: "utf8" })
  const env = Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${quote(value)}`).join(" ")
  // The shell outlives the Ctrl-C sent to the command (its trap runs a no-op), to print the exit code.
  const shell = `trap true INT; cd ${quote(options.cwd)} && env ${env} ${
    argv.map(quote).join(" ")
  }; echo EXIT=$?; sleep 600`
  tmux(
    "new-session",
    "-d",
    "-s",
    "cli",
    "-x",
    String(options.width ?? 160),
    "-y",
    String(options.height ?? 40),
    "sh",
    "-c",
    shell
  )
  // -J: a line the pane wrapped reads as one (a long store path must not split what a test looks for).
  const screen = () => tmux("capture-pane", "-p", "-J", "-t", "cli")
  return {
    screen,
    until: (test, timeoutMs = 60_000) =>
      new Promise((resolve, reject) => {
        const started = Date.now()
        const look = () => {
          let now: string
          try {
            now = screen()
          } catch (error) {
            return reject(error)
          }
          if (test(now)) return resolve(now)
          if (Date.now() - started > timeoutMs) return reject(new Error(`The terminal never showed it:\n${now}`))
          setTimeout(look, 100)
        }
        look()
      }),
    sendKeys: (...keys) => void tmux("send-keys", "-t", "cli", ...keys),
    close: () => {
      try {
        tmux("kill-server")
      } catch {
        // Already gone.
      }
    }
  }
}
