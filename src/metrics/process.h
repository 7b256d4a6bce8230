// The process's own figures, read from the kernel when scraped (Linux: /proc and getrusage).
#pragma once

namespace bouncer::metrics {

struct Catalog;

// Sets the catalog's process_* values. A figure that cannot be read is NaN.
void sample_process(Catalog& catalog);

}  // namespace bouncer::metrics
