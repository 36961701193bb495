// Preloaded into a benchmarked synth: reports the process's peak resident memory on exit.
process.on("exit", () => process.stderr.write(`peak-rss-kb=${process.resourceUsage().maxRSS}\n`));
