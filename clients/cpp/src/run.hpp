// The blocking API over Asio's asynchronous operations: each call runs the session's own
// io_context until what it waits for is done or its deadline passes. Asynchronous operations
// are what honour a deadline; the blocking ones of Asio and Beast would wait forever.
#pragma once

#include <bouncer/client/errors.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

namespace bouncer::client::detail {

using Clock = std::chrono::steady_clock;

// Runs handlers until `done()` or the deadline; false at the deadline.
inline bool run_until(boost::asio::io_context& ioc, const std::function<bool()>& done, Clock::time_point deadline) {
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    if (ioc.stopped()) ioc.restart();
    if (ioc.run_one_until(deadline) == 0 && ioc.stopped() && !done()) {
      throw std::logic_error("bouncer client: waiting for an operation that was never started");
    }
  }
  return true;
}

// Runs a coroutine to its end or to the deadline. At the deadline `cancel` stops its
// operations and TimeoutError(`timeout_message`) is thrown; an exception of the coroutine is
// rethrown as it is.
template <class T>
T run_coroutine(boost::asio::io_context& ioc, boost::asio::awaitable<T> task, Clock::time_point deadline,
                const std::function<void()>& cancel, const std::string& timeout_message) {
  // Shared with the completion handler, which may outlive this call after a timeout.
  struct Outcome {
    bool done = false;
    std::exception_ptr failure;
    std::optional<T> result;
  };
  auto outcome = std::make_shared<Outcome>();
  boost::asio::co_spawn(ioc, std::move(task), [outcome](std::exception_ptr e, T value) {
    outcome->done = true;
    outcome->failure = e;
    if (!e) outcome->result.emplace(std::move(value));
  });
  if (!run_until(ioc, [&] { return outcome->done; }, deadline)) {
    cancel();
    // Let the cancelled operations finish, so that nothing of the coroutine runs later.
    run_until(ioc, [&] { return outcome->done; }, Clock::now() + std::chrono::seconds(2));
    throw TimeoutError(timeout_message);
  }
  if (outcome->failure) std::rethrow_exception(outcome->failure);
  return std::move(*outcome->result);
}

}  // namespace bouncer::client::detail
