// A client TLS context for a library that takes an OpenSSL SSL_CTX (libmosquitto): the peer's
// certificate checked against tls_ca_file, or the system's store (OpenSSL's default paths, which
// follow SSL_CERT_FILE and SSL_CERT_DIR) when there is none; the host name or IP address checked
// against the certificate; an optional client certificate. tls_verify = false checks nothing.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace pgep {

struct SslCtxDeleter {
  void operator()(SSL_CTX* context) const { SSL_CTX_free(context); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

struct ClientTlsOptions {
  std::string host;  // what the certificate must name: a DNS name or an IP address
  std::string ca_file, cert_file, key_file;
  bool verify = true;
};

// The context, or null with `error` naming the file or step that failed.
SslCtxPtr make_client_tls_context(const ClientTlsOptions& options, std::string& error);

}  // namespace pgep
