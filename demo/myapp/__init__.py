"""The benchmarked endpoints: JSON, database queries, a template, simulated upstream calls, brotli."""
