#include <bouncer/client/errors.hpp>

#include <utility>

namespace bouncer::client {

namespace {

std::string mint_what(int status, const std::string& code, const std::string& message) {
  std::string what = "mint refused: HTTP " + std::to_string(status);
  if (!code.empty()) what += " " + code;
  if (!message.empty()) what += ": " + message;
  return what;
}

}  // namespace

MintError::MintError(int status, std::string type, std::string code, std::string param, std::string message,
                     std::optional<std::chrono::seconds> retry_after)
    : Error(mint_what(status, code, message)),
      status_(status),
      type_(std::move(type)),
      code_(std::move(code)),
      param_(std::move(param)),
      message_(std::move(message)),
      retry_after_(retry_after) {}

RefusedError::RefusedError(int close_code, std::string reason)
    : Error("session refused: " + std::to_string(close_code) + " " + reason),
      close_code_(close_code),
      reason_(std::move(reason)) {}

}  // namespace bouncer::client
