// What the client throws. Every exception derives from bouncer::client::Error
// (a std::runtime_error); none of their messages holds a credential.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

namespace bouncer::client {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bouncer answered a mint with an HTTP error (docs/API.md, "Errors").
class MintError : public Error {
 public:
  MintError(int status, std::string type, std::string code, std::string param, std::string message,
            std::optional<std::chrono::seconds> retry_after);

  int status() const { return status_; }
  const std::string& type() const { return type_; }        // invalid_request_error, rate_limit_error…
  const std::string& code() const { return code_; }        // unknown_model, rate_limited…
  const std::string& param() const { return param_; }      // the offending field; empty when none
  const std::string& message() const { return message_; }  // Bouncer's words (credentials redacted)
  // 429 and 5xx may succeed later; every other status will not until the request changes.
  bool retryable() const { return status_ == 429 || status_ >= 500; }
  // The Retry-After header of a 429, when there was one.
  std::optional<std::chrono::seconds> retry_after() const { return retry_after_; }

 private:
  int status_;
  std::string type_;
  std::string code_;
  std::string param_;
  std::string message_;
  std::optional<std::chrono::seconds> retry_after_;
};

// Bouncer refused a session, or ended it with an error (a revoked token): it sent
// {"type":"error","error":REASON} and closed with `close_code`.
class RefusedError : public Error {
 public:
  RefusedError(int close_code, std::string reason);

  int close_code() const { return close_code_; }
  const std::string& reason() const { return reason_; }  // "Invalid API key", "Model not allowed"…
  // 1008: do not retry with this credential, model and origin.
  bool permanent() const { return close_code_ == 1008; }
  // 1013 (a cap, a penalty, the store), 1011 (the upstream) and 1001 (this server is going
  // away: another one, or this one restarted, may admit) may succeed later.
  bool retryable() const { return close_code_ == 1013 || close_code_ == 1011 || close_code_ == 1001; }

 private:
  int close_code_;
  std::string reason_;
};

// The network, TLS or WebSocket layer failed: no answer, a certificate not trusted, an HTTP
// answer other than the upgrade, the connection lost.
class ConnectionError : public Error {
 public:
  using Error::Error;
};

// An operation did not complete in its time. After a timeout in connect, send or close the
// session is unusable.
class TimeoutError : public ConnectionError {
 public:
  using ConnectionError::ConnectionError;
};

// An operation on a session that has already ended.
class SessionClosedError : public Error {
 public:
  using Error::Error;
};

}  // namespace bouncer::client
