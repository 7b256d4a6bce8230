#include "server/other_url_tokens.h"

#include "log/log.h"

#include <atomic>
#include <chrono>
#include <limits>

namespace bouncer::server {
namespace {

// Steady-clock seconds of the last line written; one process-wide budget.
std::atomic<std::int64_t> last_logged{std::numeric_limits<std::int64_t>::min() / 2};

bool take_log_turn() {
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  auto last = last_logged.load(std::memory_order_relaxed);
  while (now - last >= kOtherUrlLogIntervalSeconds) {
    if (last_logged.compare_exchange_weak(last, now, std::memory_order_relaxed)) return true;
  }
  return false;
}

}  // namespace

void log_token_from_other_url(std::string_view token_url, std::string_view public_url, std::string_view kid) {
  if (token_url.empty() || token_url == public_url || !take_log_turn()) return;
  log::error("token_from_other_public_url",
             {{"token_public_url", token_url},
              {"public_url", public_url},
              {"kid", kid},
              {"hint", "every node sharing a store must have the same --public-url: its tokens are refused here "
                       "as Invalid API key"}});
}

}  // namespace bouncer::server
