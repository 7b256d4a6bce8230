// A self-signed certificate made at test time with OpenSSL, for a local wss:// upstream.
#pragma once

#include <string>
#include <vector>

namespace bouncer::relay::testing {

struct TestCert {
  std::string cert_pem;
  std::string key_pem;
};

// An EC P-256 key and a self-signed certificate valid for the given subjectAltNames
// (OpenSSL syntax: "IP:127.0.0.1", "DNS:localhost").
TestCert make_self_signed_cert(const std::vector<std::string>& subject_alt_names);

// Writes `text` to a new file in the test temp directory; returns its path.
std::string write_temp_file(const std::string& name, const std::string& text);

}  // namespace bouncer::relay::testing
