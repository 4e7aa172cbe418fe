import * as ort from 'onnxruntime-node';

/**
 * onnxruntime-node, with its telemetry off. Why this matters beyond privacy: onnxruntime 1.30's
 * Linux telemetry (the 1DS SDK, run when the first session creates the ORT environment) reads
 * /proc/self/cmdline and matches it against the std::regex `(.*)[ ]*.*[\n]*` to name the app.
 * libstdc++'s regex executor recurses once or twice per character, so a command line over
 * ~30 KB (`imgclass predict photos/*.jpg` on a big folder) overflows the 8 MB main-thread stack
 * and the process dies with SIGSEGV before printing anything. ORT_DISABLE_TELEMETRY=1 (exactly
 * "1") skips that code: /proc/self/cmdline is then never read. ORT reads the variable when the
 * environment is created (first InferenceSession.create), so setting it here, before any session,
 * covers every command and every library user. Every ORT import goes through this module.
 */
process.env.ORT_DISABLE_TELEMETRY = '1';

export { ort };
