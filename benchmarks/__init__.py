"""The benchmarks: scripts that measure seknet through its public API, run from the checkout root as
``python -m benchmarks.NAME`` (``benchmarks.truth.NAME`` for the truth tables). Their figures are in README.md."""
