#pragma once

#include <string>

namespace bouncer::client {

// How https:// and wss:// peers are verified. Verification is always on: the certificate
// chain must lead to a trusted CA and name the host (DNS name or IP address) of the URL.
struct TlsOptions {
  // A PEM file of CA certificates to trust instead of the system's; empty: the system's CAs.
  std::string ca_file;
};

}  // namespace bouncer::client
