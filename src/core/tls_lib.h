/* libssl's entry points that the TLS probe uses, resolved when the first
 * probe starts (tls_lib.c), so that libssl and libcrypto are not loaded,
 * relocated and bound at every start of a tool that rarely speaks TLS. */
#ifndef CR_TLS_LIB_H
#define CR_TLS_LIB_H

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "lazy_lib.h"

/* Every function called, by its name in the headers (a macro there, such as
 * SSL_set_tlsext_host_name or sk_GENERAL_NAME_num, is written out at its call
 * with the function it stands for). The types come from the headers. */
#define CR_TLS_FUNCTIONS(X)                                                                                    \
  X(ASN1_STRING_get0_data) X(ASN1_STRING_length) X(ASN1_TIME_to_tm) X(BIO_ctrl) X(BIO_ctrl_pending)           \
  X(BIO_free) X(BIO_new) X(BIO_read) X(BIO_s_mem) X(BIO_write) X(ERR_clear_error) X(ERR_peek_last_error)      \
  X(ERR_reason_error_string) X(GENERAL_NAMES_free) X(OPENSSL_sk_num) X(OPENSSL_sk_value)                      \
  X(SSL_CIPHER_get_name) X(SSL_CTX_free) X(SSL_CTX_load_verify_locations) X(SSL_CTX_new)                      \
  X(SSL_CTX_set_default_verify_paths) X(SSL_CTX_set_verify) X(SSL_ctrl) X(SSL_do_handshake) X(SSL_free)       \
  X(SSL_get1_peer_certificate) X(SSL_get_current_cipher) X(SSL_get_error) X(SSL_get_verify_result)            \
  X(SSL_get_version) X(SSL_new) X(SSL_set_bio) X(SSL_set_connect_state) X(TLS_client_method)      \
  X(X509_NAME_print_ex) X(X509_check_host) X(X509_check_ip_asc) X(X509_check_issued) X(X509_free)             \
  X(X509_get0_notAfter) X(X509_get0_notBefore) X(X509_get_ext_d2i) X(X509_get_issuer_name)                    \
  X(X509_get_subject_name) X(X509_verify_cert_error_string)

typedef struct {
  CR_TLS_FUNCTIONS(CR_LAZY_FIELD)
} cr_tls_lib;

/* Filled by cr_tls_lib_load; read only after it returned 0 on this thread. */
extern cr_tls_lib cr_tls;

/* Loads libssl once per process (later calls return the first outcome).
 * Returns 0, or -ELIBACC when libssl or one of its functions is missing
 * (the dynamic linker's reason in *why when why is not NULL). */
int cr_tls_lib_load(const char **why);

#endif
