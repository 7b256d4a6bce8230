#include "server/tls.h"

#include "server/responses.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <sstream>
#include <stdexcept>

namespace bouncer::server {

namespace ssl = boost::asio::ssl;

namespace {

// Mozilla's "intermediate" profile for TLS 1.2: forward secrecy (ECDHE) and AEAD only. TLS
// 1.3's own suites are all fine and keep OpenSSL's defaults.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kGroups = "X25519:P-256:P-384";
constexpr std::size_t kMaxPemBytes = 1 << 20;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The newest OpenSSL error, for the end of a message ("" when there is none).
std::string openssl_error() {
  const auto code = ERR_peek_last_error();
  ERR_clear_error();
  if (code == 0) return "";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof buf);
  return std::string(" (") + buf + ")";
}

std::string read_file(const std::string& path, const std::string& what) {
  auto fail = [&] { throw std::runtime_error("cannot read " + what + " " + path + ": " + std::strerror(errno)); };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail();
  std::string content;
  char buf[16 * 1024];
  for (;;) {
    const auto n = ::read(fd, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int saved = errno;
      OPENSSL_cleanse(buf, sizeof buf);
      OPENSSL_cleanse(content.data(), content.size());
      ::close(fd);
      errno = saved;
      fail();
    }
    // A PEM chain is a few KiB; a file this large is not one (and must not eat the memory).
    if (content.size() + static_cast<std::size_t>(n) > kMaxPemBytes) {
      ::close(fd);
      throw std::runtime_error(what + " " + path + " is larger than " + std::to_string(kMaxPemBytes) + " bytes");
    }
    content.append(buf, static_cast<std::size_t>(n));
  }
  OPENSSL_cleanse(buf, sizeof buf);
  ::close(fd);
  return content;
}

// The same rule as for signing keys: a private key is the operator's alone.
void check_key_file_mode(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw std::runtime_error("cannot read TLS key " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) throw std::runtime_error("cannot read TLS key " + path + ": not a regular file");
  if ((st.st_mode & 077) != 0) {
    std::ostringstream msg;
    msg << "refusing TLS key " << path << ": it is open to group or others (mode 0" << std::oct << (st.st_mode & 0777)
        << "); run: chmod 600 " << path;
    throw std::runtime_error(msg.str());
  }
}

// Never prompts: a key that needs a passphrase fails to load instead of waiting on a terminal.
int no_passphrase(char*, int, int, void*) { return -1; }

Pkey parse_key(const std::string& pem, const std::string& path) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  if (key) return key;
  const auto detail = openssl_error();
  if (pem.find("ENCRYPTED") != std::string::npos) {
    throw std::runtime_error("TLS key " + path + " is encrypted: give Bouncer an unencrypted key (mode 0600)");
  }
  throw std::runtime_error("TLS key " + path + " holds no PEM private key" + detail);
}

Cert parse_leaf(const std::string& pem, const std::string& path) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
  if (!cert) throw std::runtime_error("TLS certificate " + path + " holds no PEM certificate" + openssl_error());
  return cert;
}

std::int64_t unix_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string name_text(const X509_NAME* name) {
  Bio bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const auto n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string hex(const unsigned char* data, unsigned n) {
  static constexpr char digits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned i = 0; i < n; ++i) {
    if (i) out += ':';
    out += digits[data[i] >> 4];
    out += digits[data[i] & 0xf];
  }
  return out;
}

CertificateInfo describe(X509* cert) {
  CertificateInfo info;
  info.subject = name_text(X509_get_subject_name(cert));
  info.issuer = name_text(X509_get_issuer_name(cert));
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* h = BN_bn2hex(bn)) {
      info.serial = h;
      OPENSSL_free(h);
    }
    BN_free(bn);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (X509_digest(cert, EVP_sha256(), md, &len) == 1) info.sha256 = hex(md, len);
  info.not_before = unix_time(X509_get0_notBefore(cert));
  info.not_after = unix_time(X509_get0_notAfter(cert));
  return info;
}

// ALPN: this listener speaks HTTP/1.1 only (WebSocket upgrades included). A client that
// offers ALPN without it gets the fatal alert RFC 7301 §3.2 asks for.
int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen, void*) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, outlen, kHttp11, sizeof kHttp11, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

void configure(ssl::context& context) {
  SSL_CTX* ctx = context.native_handle();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // Compression leaks secrets (CRIME); renegotiation is a DoS lever and nothing here needs it.
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  // With only strong suites on offer the client's order is as good, and it knows whether it
  // has AES hardware (Mozilla "intermediate": prefer_server_ciphers off).
  SSL_CTX_clear_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1 || SSL_CTX_set1_groups_list(ctx, kGroups) != 1) {
    throw std::runtime_error("TLS: OpenSSL refused the cipher configuration" + openssl_error());
  }
  // An idle session (most of them, most of the time) gives its TLS buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_alpn_select_cb(ctx, select_alpn, nullptr);
}

}  // namespace

ServerTls load_server_tls(const TlsFiles& files) {
  const auto cert_pem = read_file(files.cert_file, "TLS certificate");
  check_key_file_mode(files.key_file);
  auto key_pem = read_file(files.key_file, "TLS key");
  Pkey key;
  try {
    key = parse_key(key_pem, files.key_file);
  } catch (...) {
    OPENSSL_cleanse(key_pem.data(), key_pem.size());
    throw;
  }
  OPENSSL_cleanse(key_pem.data(), key_pem.size());

  const auto leaf = parse_leaf(cert_pem, files.cert_file);
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    throw std::runtime_error("TLS key " + files.key_file + " does not match the certificate in " + files.cert_file);
  }

  ServerTls out;
  out.context = std::make_shared<ssl::context>(ssl::context::tls_server);
  configure(*out.context);
  boost::system::error_code ec;
  out.context->use_certificate_chain(boost::asio::buffer(cert_pem), ec);
  if (ec) throw std::runtime_error("TLS certificate " + files.cert_file + ": " + ec.message());
  if (SSL_CTX_use_PrivateKey(out.context->native_handle(), key.get()) != 1 ||
      SSL_CTX_check_private_key(out.context->native_handle()) != 1) {
    throw std::runtime_error("TLS key " + files.key_file + " does not match the certificate in " + files.cert_file +
                             openssl_error());
  }
  out.certificate = describe(leaf.get());
  return out;
}

std::string validity_problem(const CertificateInfo& certificate, std::int64_t now) {
  if (now < certificate.not_before) return "not yet valid";
  if (now > certificate.not_after) return "expired";
  return "";
}

}  // namespace bouncer::server
