// The TLS side of https:// and wss://: a client context that verifies the peer, and the
// per-connection settings (SNI, the name the certificate must hold).
#pragma once

#include <bouncer/client/tls.hpp>

#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

#include <string>

namespace bouncer::client::detail {

// TLS 1.2 or later, peer verification on, the system's CAs or options.ca_file.
// Throws std::invalid_argument when the CA file cannot be used.
boost::asio::ssl::context make_tls_context(const TlsOptions& options);

// Before the handshake: SNI for a DNS name (never for an IP address, RFC 6066), and the DNS
// name or IP address the server's certificate must be valid for.
void expect_peer(SSL* ssl, const std::string& host);

}  // namespace bouncer::client::detail
