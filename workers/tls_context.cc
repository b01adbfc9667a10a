#include "workers/tls_context.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace pgep {

namespace {

// OpenSSL's reason for the last failure, for an error message.
std::string openssl_reason() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no reason given";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

bool is_ip_address(const std::string& host) {
  unsigned char address[16];
  return inet_pton(AF_INET, host.c_str(), address) == 1 || inet_pton(AF_INET6, host.c_str(), address) == 1;
}

bool check_peer_name(SSL_CTX* context, const std::string& host) {
  X509_VERIFY_PARAM* param = SSL_CTX_get0_param(context);
  if (is_ip_address(host)) return X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) == 1;
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  return X509_VERIFY_PARAM_set1_host(param, host.c_str(), host.size()) == 1;
}

}  // namespace

SslCtxPtr make_client_tls_context(const ClientTlsOptions& options, std::string& error) {
  SslCtxPtr context(SSL_CTX_new(TLS_client_method()));
  if (!context) {
    error = "cannot create a TLS context: " + openssl_reason();
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
  if (!options.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(context.get(), options.cert_file.c_str()) != 1) {
      error = "cannot load tls_cert_file " + options.cert_file + ": " + openssl_reason();
      return nullptr;
    }
    const std::string& key = options.key_file.empty() ? options.cert_file : options.key_file;
    if (SSL_CTX_use_PrivateKey_file(context.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
      error = "cannot load tls_key_file " + key + ": " + openssl_reason();
      return nullptr;
    }
  }
  if (!options.verify) {
    SSL_CTX_set_verify(context.get(), SSL_VERIFY_NONE, nullptr);
    return context;
  }
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(context.get(), options.ca_file.c_str(), nullptr) != 1) {
      error = "cannot load tls_ca_file " + options.ca_file + ": " + openssl_reason();
      return nullptr;
    }
  } else if (SSL_CTX_set_default_verify_paths(context.get()) != 1) {
    error = "cannot load the system's CA certificates (set tls_ca_file): " + openssl_reason();
    return nullptr;
  }
  if (!check_peer_name(context.get(), options.host)) {
    error = "cannot check the certificate's name against \"" + options.host + "\"";
    return nullptr;
  }
  SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
  return context;
}

}  // namespace pgep
