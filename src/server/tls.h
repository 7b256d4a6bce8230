// TLS on the public listener: the server context made from a PEM certificate chain and key,
// the checks that make a bad pair a clear startup error, and the current context that a
// reload (SIGHUP) swaps while live connections keep the one they started with.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

namespace bouncer::server {

struct TlsFiles {
  std::string cert_file;  // PEM: the server's certificate first, then its intermediates
  std::string key_file;   // PEM: its private key, unencrypted, mode 0600 (or stricter)
};

// What the logs say of a certificate.
struct CertificateInfo {
  std::string subject;
  std::string issuer;
  std::string serial;   // hex
  std::string sha256;   // fingerprint of the DER certificate, hex
  std::int64_t not_before = 0;  // unix seconds
  std::int64_t not_after = 0;
};

struct ServerTls {
  std::shared_ptr<boost::asio::ssl::context> context;
  CertificateInfo certificate;  // the leaf
};

// Reads and checks the pair and builds the context: TLS 1.2 and 1.3 only, ECDHE with AEAD
// ciphers for 1.2, the client's cipher preference, no compression, no renegotiation, session
// tickets on, ALPN "http/1.1". Throws std::runtime_error naming the file and the problem: a
// file that cannot be read, a key file open to group or others, an encrypted key, a file
// without a PEM certificate or key, a key that does not belong to the certificate.
ServerTls load_server_tls(const TlsFiles& files);

// "expired" or "not yet valid" for a certificate that is not valid at `now` (unix seconds),
// "" when it is. Such a certificate is served anyway, with a warning: clients decide.
std::string validity_problem(const CertificateInfo& certificate, std::int64_t now);

// The context new connections get. Read once per accepted connection (one atomic load);
// replaced by a reload. A connection holds its own reference for its whole life.
class TlsContextHolder {
 public:
  explicit TlsContextHolder(ServerTls initial) : current_(std::make_shared<const ServerTls>(std::move(initial))) {}

  std::shared_ptr<const ServerTls> current() const { return current_.load(std::memory_order_acquire); }
  void replace(ServerTls next) { current_.store(std::make_shared<const ServerTls>(std::move(next)), std::memory_order_release); }

 private:
  std::atomic<std::shared_ptr<const ServerTls>> current_;
};

}  // namespace bouncer::server
