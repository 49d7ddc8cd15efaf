/**
 * piscina's worker. piscina loads it with `require`; the handler (bench/piscinaHandler.ts, which
 * loads the same modules as our pool's threads) is an ES module, loaded here with `import()`:
 * Node 20's `require` of that ES module graph once aborted the whole benchmark with a V8 fatal
 * error ("v8::Module::IsGraphAsync must be used on an instantiated module"). piscina awaits the
 * exported promise once, when the thread starts.
 */
export = import("./piscinaHandler.js").then((handler) => handler.default)
