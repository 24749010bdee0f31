/**
 * The environment a test gives a child process: what it needs to run (PATH, HOME, the temp dir,
 * where the Whisper models are) plus what the test sets — never the whole environment of the
 * process running the tests, so a stray variable on a developer's machine (DATABASE_URL,
 * TEMPORAL_ADDRESS, …) cannot change what the child does.
 */
export function childEnv(settings: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TMPDIR: process.env.TMPDIR,
    WHISPER_MODEL_CACHE: process.env.WHISPER_MODEL_CACHE,
    ...settings,
  };
  return Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined));
}
