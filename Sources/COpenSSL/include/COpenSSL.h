#ifndef APUS_COPENSSL_H
#define APUS_COPENSSL_H
/*
 * The OpenSSL calls apus makes, each behind an apus_-prefixed function whose
 * symbol is resolved from the system's libssl.so.3 / libcrypto.so.3 with
 * dlopen + dlsym on first use (apus_openssl_load). apus never links OpenSSL,
 * so `mailq` and plain-text sends never load it.
 *
 * Every function except apus_openssl_load / apus_openssl_load_error requires a
 * successful apus_openssl_load() first (the Swift layer guarantees it).
 *
 * OpenSSL's own headers stay in shim.c; this header names only opaque
 * structure pointers, so Swift sees them as OpaquePointer.
 */
#include <stddef.h>

struct ssl_st;
struct ssl_ctx_st;
struct ssl_method_st;
struct bio_st;
struct x509_st;
struct evp_md_st;

/* Loading ------------------------------------------------------------------ */

/* Loads libssl.so.3 and libcrypto.so.3 and resolves every symbol, once per
 * process (thread-safe). Returns 1 on success, 0 when OpenSSL is missing or
 * lacks a symbol; apus_openssl_load_error() then says which. */
int apus_openssl_load(void);
/* Why apus_openssl_load failed (a static string), or "" after success. */
const char *apus_openssl_load_error(void);

/* Contexts ----------------------------------------------------------------- */

const struct ssl_method_st *apus_TLS_client_method(void);
const struct ssl_method_st *apus_TLS_server_method(void);
struct ssl_ctx_st *apus_SSL_CTX_new(const struct ssl_method_st *method);
void apus_SSL_CTX_free(struct ssl_ctx_st *ctx);
int apus_SSL_CTX_set_default_verify_paths(struct ssl_ctx_st *ctx);
int apus_SSL_CTX_load_verify_locations(struct ssl_ctx_st *ctx, const char *file, const char *dir);
/* mode: 0 none, 1 verify the peer, 3 verify and require a peer certificate. */
void apus_SSL_CTX_set_verify(struct ssl_ctx_st *ctx, int mode);
int apus_SSL_CTX_use_certificate_chain_file(struct ssl_ctx_st *ctx, const char *file);
int apus_SSL_CTX_use_PrivateKey_file_pem(struct ssl_ctx_st *ctx, const char *file);
int apus_SSL_CTX_check_private_key(const struct ssl_ctx_st *ctx);
/* version: 0x0303 TLS 1.2, 0x0304 TLS 1.3 (macros SSL_CTX_set_min/max_proto_version). */
int apus_SSL_CTX_set_min_proto_version(struct ssl_ctx_st *ctx, int version);
int apus_SSL_CTX_set_max_proto_version(struct ssl_ctx_st *ctx, int version);

/* Connections -------------------------------------------------------------- */

struct ssl_st *apus_SSL_new(struct ssl_ctx_st *ctx);
void apus_SSL_free(struct ssl_st *ssl);
void apus_SSL_set_bio(struct ssl_st *ssl, struct bio_st *rbio, struct bio_st *wbio);
void apus_SSL_set_connect_state(struct ssl_st *ssl);
void apus_SSL_set_accept_state(struct ssl_st *ssl);
int apus_SSL_do_handshake(struct ssl_st *ssl);
int apus_SSL_read(struct ssl_st *ssl, void *buffer, int length);
int apus_SSL_write(struct ssl_st *ssl, const void *buffer, int length);
int apus_SSL_shutdown(struct ssl_st *ssl);
int apus_SSL_get_error(const struct ssl_st *ssl, int ret);
/* SSL_get_error's results apus tells apart. */
enum {
    APUS_SSL_ERROR_NONE = 0,
    APUS_SSL_ERROR_SSL = 1,
    APUS_SSL_ERROR_WANT_READ = 2,
    APUS_SSL_ERROR_WANT_WRITE = 3,
    APUS_SSL_ERROR_SYSCALL = 5,
    APUS_SSL_ERROR_ZERO_RETURN = 6,
};
/* SNI (macro SSL_set_tlsext_host_name). */
int apus_SSL_set_tlsext_host_name(struct ssl_st *ssl, const char *name);
/* The name the client sent as SNI (server side), or NULL. */
const char *apus_SSL_get_servername(const struct ssl_st *ssl);
int apus_SSL_set1_host(struct ssl_st *ssl, const char *hostname);
/* X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), address). */
int apus_SSL_set1_ip_asc(struct ssl_st *ssl, const char *address);
long apus_SSL_get_verify_result(const struct ssl_st *ssl);
const char *apus_SSL_get_version(const struct ssl_st *ssl);
/* SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)), or NULL. */
const char *apus_SSL_get_cipher_name(const struct ssl_st *ssl);
/* The peer's leaf certificate (a reference the caller frees with
 * apus_X509_free), from SSL_get1_peer_certificate or, when verification
 * failed during the handshake, the first of SSL_get_peer_cert_chain. */
struct x509_st *apus_SSL_get_peer_leaf(const struct ssl_st *ssl);

/* Certificates ------------------------------------------------------------- */

void apus_X509_free(struct x509_st *cert);
/* SHA-256 of the DER certificate into out[32] (X509_digest). 1 on success. */
int apus_X509_sha256(const struct x509_st *cert, unsigned char *out);
/* The subject, RFC 2253 one-line form (X509_NAME_print_ex), NUL-terminated;
 * returns its length (truncated to capacity - 1). */
size_t apus_X509_subject(const struct x509_st *cert, char *out, size_t capacity);
/* The DNS names of subjectAltName, each NUL-terminated one after another;
 * returns the bytes written (a name that does not fit is left out). */
size_t apus_X509_dns_names(const struct x509_st *cert, char *out, size_t capacity);
/* X509_verify_cert_error_string. */
const char *apus_X509_verify_cert_error_string(long code);

/* Verify results apus classifies (X509_V_ERR_*). */
enum {
    APUS_X509_V_OK = 0,
    APUS_X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT = 2,
    APUS_X509_V_ERR_CERT_NOT_YET_VALID = 9,
    APUS_X509_V_ERR_CERT_HAS_EXPIRED = 10,
    APUS_X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT = 18,
    APUS_X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN = 19,
    APUS_X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = 20,
    APUS_X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE = 21,
    APUS_X509_V_ERR_CERT_UNTRUSTED = 27,
    APUS_X509_V_ERR_HOSTNAME_MISMATCH = 62,
    APUS_X509_V_ERR_IP_ADDRESS_MISMATCH = 64,
};

/* Memory BIOs -------------------------------------------------------------- */

/* BIO_new(BIO_s_mem()) with BIO_set_mem_eof_return(-1): empty means "retry". */
struct bio_st *apus_BIO_new_mem(void);
void apus_BIO_free(struct bio_st *bio);
int apus_BIO_read(struct bio_st *bio, void *buffer, int length);
int apus_BIO_write(struct bio_st *bio, const void *buffer, int length);
/* Bytes waiting to be read (macro BIO_pending). */
int apus_BIO_pending(struct bio_st *bio);

/* Error queue -------------------------------------------------------------- */

unsigned long apus_ERR_get_error(void);
void apus_ERR_clear_error(void);
void apus_ERR_error_string_n(unsigned long error, char *buffer, size_t length);
/* ERR_GET_REASON (an inline function in the headers). */
int apus_ERR_GET_REASON(unsigned long error);

/* Reasons apus classifies (SSL_R_*). */
enum {
    APUS_SSL_R_NO_PROTOCOLS_AVAILABLE = 191,
    APUS_SSL_R_UNSUPPORTED_PROTOCOL = 258,
    APUS_SSL_R_WRONG_VERSION_NUMBER = 267,
    APUS_SSL_R_TLSV1_ALERT_PROTOCOL_VERSION = 1070,
};

/* Crypto ------------------------------------------------------------------- */

const struct evp_md_st *apus_EVP_sha256(void);
const struct evp_md_st *apus_EVP_md5(void);
/* EVP_Digest one-shot; out must hold the digest size. 1 on success. */
int apus_EVP_Digest(const void *data, size_t length, unsigned char *out, unsigned int *outLength,
                    const struct evp_md_st *md);
/* HMAC one-shot; 1 on success. */
int apus_HMAC(const struct evp_md_st *md, const void *key, int keyLength, const unsigned char *data,
              size_t dataLength, unsigned char *out, unsigned int *outLength);
int apus_PKCS5_PBKDF2_HMAC(const char *password, int passwordLength, const unsigned char *salt,
                           int saltLength, int iterations, const struct evp_md_st *md, int keyLength,
                           unsigned char *out);
int apus_RAND_bytes(unsigned char *buffer, int length);

/* Signatures --------------------------------------------------------------- */

/* RSASSA-PKCS1-v1_5 with SHA-256 (JWS "RS256") of data[dataLength] under the
 * unencrypted PEM private key pem[pemLength] (PEM_read_bio_PrivateKey,
 * EVP_DigestSign). *outLength: out's capacity in, the signature's length out.
 * Returns 1 on success, 0 when the key cannot be read (or is encrypted: no
 * passphrase is ever asked for), -1 when it is not an RSA key, -2 when
 * signing fails. */
int apus_rs256_sign(const void *pem, int pemLength, const void *data, size_t dataLength, unsigned char *out,
                    size_t *outLength);

#endif
