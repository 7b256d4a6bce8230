#include "tls.hpp"

#include "endpoint.hpp"

#include <openssl/x509v3.h>

#include <stdexcept>

namespace bouncer::client::detail {

namespace ssl = boost::asio::ssl;

ssl::context make_tls_context(const TlsOptions& options) {
  ssl::context context(ssl::context::tls_client);
  context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                      ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  context.set_verify_mode(ssl::verify_peer);
  boost::system::error_code ec;
  if (options.ca_file.empty()) {
    context.set_default_verify_paths(ec);
    if (ec) throw std::invalid_argument("cannot load the system's CA certificates: " + ec.message());
  } else {
    context.load_verify_file(options.ca_file, ec);
    if (ec) throw std::invalid_argument("cannot load the CA file " + options.ca_file + ": " + ec.message());
  }
  return context;
}

void expect_peer(SSL* ssl, const std::string& host) {
  if (is_ip_literal(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str());
    return;
  }
  SSL_set_tlsext_host_name(ssl, host.c_str());
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  SSL_set1_host(ssl, host.c_str());
}

}  // namespace bouncer::client::detail
