// Preloaded into a benchmarked synth: reports the process's peak resident memory and CPU time on exit.
process.on("exit", () => {
  const usage = process.resourceUsage();
  process.stderr.write(`peak-rss-kb=${usage.maxRSS} cpu-us=${usage.userCPUTime + usage.systemCPUTime}\n`);
});
