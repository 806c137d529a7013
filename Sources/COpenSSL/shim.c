/*
 * apus_ OpenSSL shim: every OpenSSL function apus calls is resolved from the
 * system's libcrypto.so.3 / libssl.so.3 with dlopen + dlsym on first use, so
 * the binary never links OpenSSL and processes that need no TLS never load it.
 *
 * The function pointer types come from OpenSSL's own headers (__typeof__), so
 * a changed prototype fails to compile instead of crashing. Nothing here may
 * call an OpenSSL function or inline helper directly: that would make the
 * object reference the symbol and need linking (check with `nm -u shim.o`).
 */
#include "COpenSSL.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* The symbols, with the library each comes from. */
#define APUS_CRYPTO_SYMBOLS(X)                                                                   \
    X(BIO_new) X(BIO_s_mem) X(BIO_free) X(BIO_read) X(BIO_write) X(BIO_ctrl) X(ERR_get_error)   \
    X(ERR_clear_error) X(ERR_error_string_n) X(X509_free) X(X509_digest) X(X509_up_ref)          \
    X(X509_get_subject_name) X(X509_NAME_print_ex) X(X509_get_ext_d2i) X(GENERAL_NAMES_free)    \
    X(OPENSSL_sk_num) X(OPENSSL_sk_value) X(ASN1_STRING_get0_data) X(ASN1_STRING_length)        \
    X(X509_verify_cert_error_string) X(X509_VERIFY_PARAM_set1_ip_asc) X(EVP_sha256) X(EVP_md5)  \
    X(EVP_Digest) X(HMAC) X(PKCS5_PBKDF2_HMAC) X(RAND_bytes) X(PEM_read_bio_PrivateKey)       \
    X(EVP_PKEY_free) X(EVP_PKEY_get_base_id) X(EVP_MD_CTX_new) X(EVP_MD_CTX_free)                \
    X(EVP_DigestSignInit) X(EVP_DigestSign)

#define APUS_SSL_SYMBOLS(X)                                                                      \
    X(TLS_client_method) X(TLS_server_method) X(SSL_CTX_new) X(SSL_CTX_free)                     \
    X(SSL_CTX_set_default_verify_paths) X(SSL_CTX_load_verify_locations) X(SSL_CTX_set_verify)  \
    X(SSL_CTX_use_certificate_chain_file) X(SSL_CTX_use_PrivateKey_file)                         \
    X(SSL_CTX_check_private_key) X(SSL_CTX_ctrl) X(SSL_new) X(SSL_free) X(SSL_set_bio)          \
    X(SSL_set_connect_state) X(SSL_set_accept_state) X(SSL_do_handshake) X(SSL_read)            \
    X(SSL_write) X(SSL_shutdown) X(SSL_get_error) X(SSL_ctrl) X(SSL_get_servername)             \
    X(SSL_set1_host) X(SSL_get0_param) X(SSL_get_verify_result) X(SSL_get_version)              \
    X(SSL_get_current_cipher) X(SSL_CIPHER_get_name) X(SSL_get1_peer_certificate)              \
    X(SSL_get_peer_cert_chain)

#define APUS_DECLARE(name) static __typeof__(name) *p_##name;
APUS_CRYPTO_SYMBOLS(APUS_DECLARE)
APUS_SSL_SYMBOLS(APUS_DECLARE)
#undef APUS_DECLARE

static pthread_once_t apus_once = PTHREAD_ONCE_INIT;
static int apus_loaded;
static char apus_error[512] = "OpenSSL was not loaded";

static void *apus_resolve(void *handle, const char *library, const char *name, int *ok) {
    if (!*ok) return NULL;
    void *symbol = dlsym(handle, name);
    if (symbol == NULL) {
        snprintf(apus_error, sizeof apus_error, "%s has no symbol %s (OpenSSL 3 is required)", library, name);
        *ok = 0;
    }
    return symbol;
}

static void apus_load_once(void) {
    void *crypto = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
    if (crypto == NULL) {
        const char *why = dlerror();
        snprintf(apus_error, sizeof apus_error, "cannot load libcrypto.so.3 (install libssl3): %s",
                 why ? why : "not found");
        return;
    }
    void *ssl = dlopen("libssl.so.3", RTLD_NOW | RTLD_LOCAL);
    if (ssl == NULL) {
        const char *why = dlerror();
        snprintf(apus_error, sizeof apus_error, "cannot load libssl.so.3 (install libssl3): %s",
                 why ? why : "not found");
        return;
    }
    int ok = 1;
#define APUS_RESOLVE_CRYPTO(name) *(void **)(&p_##name) = apus_resolve(crypto, "libcrypto.so.3", #name, &ok);
#define APUS_RESOLVE_SSL(name) *(void **)(&p_##name) = apus_resolve(ssl, "libssl.so.3", #name, &ok);
    APUS_CRYPTO_SYMBOLS(APUS_RESOLVE_CRYPTO)
    APUS_SSL_SYMBOLS(APUS_RESOLVE_SSL)
#undef APUS_RESOLVE_CRYPTO
#undef APUS_RESOLVE_SSL
    if (ok) {
        apus_error[0] = '\0';
        apus_loaded = 1;
    }
}

int apus_openssl_load(void) {
    pthread_once(&apus_once, apus_load_once);
    return apus_loaded;
}

const char *apus_openssl_load_error(void) {
    pthread_once(&apus_once, apus_load_once);
    return apus_error;
}

/* Contexts */

const struct ssl_method_st *apus_TLS_client_method(void) { return p_TLS_client_method(); }
const struct ssl_method_st *apus_TLS_server_method(void) { return p_TLS_server_method(); }
struct ssl_ctx_st *apus_SSL_CTX_new(const struct ssl_method_st *method) { return p_SSL_CTX_new(method); }
void apus_SSL_CTX_free(struct ssl_ctx_st *ctx) { p_SSL_CTX_free(ctx); }
int apus_SSL_CTX_set_default_verify_paths(struct ssl_ctx_st *ctx) { return p_SSL_CTX_set_default_verify_paths(ctx); }
int apus_SSL_CTX_load_verify_locations(struct ssl_ctx_st *ctx, const char *file, const char *dir) {
    return p_SSL_CTX_load_verify_locations(ctx, file, dir);
}
void apus_SSL_CTX_set_verify(struct ssl_ctx_st *ctx, int mode) {
    int flags = SSL_VERIFY_NONE;
    if (mode & 1) flags |= SSL_VERIFY_PEER;
    if (mode & 2) flags |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    p_SSL_CTX_set_verify(ctx, flags, NULL);
}
int apus_SSL_CTX_use_certificate_chain_file(struct ssl_ctx_st *ctx, const char *file) {
    return p_SSL_CTX_use_certificate_chain_file(ctx, file);
}
int apus_SSL_CTX_use_PrivateKey_file_pem(struct ssl_ctx_st *ctx, const char *file) {
    return p_SSL_CTX_use_PrivateKey_file(ctx, file, SSL_FILETYPE_PEM);
}
int apus_SSL_CTX_check_private_key(const struct ssl_ctx_st *ctx) { return p_SSL_CTX_check_private_key(ctx); }
int apus_SSL_CTX_set_min_proto_version(struct ssl_ctx_st *ctx, int version) {
    return (int)p_SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MIN_PROTO_VERSION, version, NULL);
}
int apus_SSL_CTX_set_max_proto_version(struct ssl_ctx_st *ctx, int version) {
    return (int)p_SSL_CTX_ctrl(ctx, SSL_CTRL_SET_MAX_PROTO_VERSION, version, NULL);
}

/* Connections */

struct ssl_st *apus_SSL_new(struct ssl_ctx_st *ctx) { return p_SSL_new(ctx); }
void apus_SSL_free(struct ssl_st *ssl) { p_SSL_free(ssl); }
void apus_SSL_set_bio(struct ssl_st *ssl, struct bio_st *rbio, struct bio_st *wbio) { p_SSL_set_bio(ssl, rbio, wbio); }
void apus_SSL_set_connect_state(struct ssl_st *ssl) { p_SSL_set_connect_state(ssl); }
void apus_SSL_set_accept_state(struct ssl_st *ssl) { p_SSL_set_accept_state(ssl); }
int apus_SSL_do_handshake(struct ssl_st *ssl) { return p_SSL_do_handshake(ssl); }
int apus_SSL_read(struct ssl_st *ssl, void *buffer, int length) { return p_SSL_read(ssl, buffer, length); }
int apus_SSL_write(struct ssl_st *ssl, const void *buffer, int length) { return p_SSL_write(ssl, buffer, length); }
int apus_SSL_shutdown(struct ssl_st *ssl) { return p_SSL_shutdown(ssl); }
int apus_SSL_get_error(const struct ssl_st *ssl, int ret) { return p_SSL_get_error(ssl, ret); }
int apus_SSL_set_tlsext_host_name(struct ssl_st *ssl, const char *name) {
    return (int)p_SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, (void *)name);
}
const char *apus_SSL_get_servername(const struct ssl_st *ssl) {
    return p_SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
}
int apus_SSL_set1_host(struct ssl_st *ssl, const char *hostname) { return p_SSL_set1_host(ssl, hostname); }
int apus_SSL_set1_ip_asc(struct ssl_st *ssl, const char *address) {
    X509_VERIFY_PARAM *param = p_SSL_get0_param(ssl);
    if (param == NULL) return 0;
    return p_X509_VERIFY_PARAM_set1_ip_asc(param, address);
}
long apus_SSL_get_verify_result(const struct ssl_st *ssl) { return p_SSL_get_verify_result(ssl); }
const char *apus_SSL_get_version(const struct ssl_st *ssl) { return p_SSL_get_version(ssl); }
const char *apus_SSL_get_cipher_name(const struct ssl_st *ssl) {
    const SSL_CIPHER *cipher = p_SSL_get_current_cipher(ssl);
    return cipher ? p_SSL_CIPHER_get_name(cipher) : NULL;
}
struct x509_st *apus_SSL_get_peer_leaf(const struct ssl_st *ssl) {
    X509 *cert = p_SSL_get1_peer_certificate(ssl);
    if (cert != NULL) return cert;
    STACK_OF(X509) *chain = p_SSL_get_peer_cert_chain(ssl);
    if (chain == NULL || p_OPENSSL_sk_num((const OPENSSL_STACK *)chain) < 1) return NULL;
    cert = (X509 *)p_OPENSSL_sk_value((const OPENSSL_STACK *)chain, 0);
    if (cert == NULL || !p_X509_up_ref(cert)) return NULL;
    return cert;
}

/* Certificates */

void apus_X509_free(struct x509_st *cert) { p_X509_free(cert); }
int apus_X509_sha256(const struct x509_st *cert, unsigned char *out) {
    unsigned int length = 0;
    return p_X509_digest(cert, p_EVP_sha256(), out, &length) == 1 && length == 32;
}
size_t apus_X509_subject(const struct x509_st *cert, char *out, size_t capacity) {
    if (capacity == 0) return 0;
    out[0] = '\0';
    BIO *bio = p_BIO_new(p_BIO_s_mem());
    if (bio == NULL) return 0;
    size_t length = 0;
    if (p_X509_NAME_print_ex(bio, p_X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        int n = p_BIO_read(bio, out, (int)(capacity - 1));
        if (n > 0) length = (size_t)n;
    }
    out[length] = '\0';
    p_BIO_free(bio);
    return length;
}
size_t apus_X509_dns_names(const struct x509_st *cert, char *out, size_t capacity) {
    GENERAL_NAMES *names = p_X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (names == NULL) return 0;
    size_t used = 0;
    int count = p_OPENSSL_sk_num((const OPENSSL_STACK *)names);
    for (int i = 0; i < count; i++) {
        const GENERAL_NAME *name = p_OPENSSL_sk_value((const OPENSSL_STACK *)names, i);
        if (name == NULL || name->type != GEN_DNS) continue;
        const unsigned char *data = p_ASN1_STRING_get0_data(name->d.dNSName);
        int length = p_ASN1_STRING_length(name->d.dNSName);
        if (data == NULL || length <= 0 || memchr(data, 0, (size_t)length) != NULL) continue;
        if (used + (size_t)length + 1 > capacity) continue;
        memcpy(out + used, data, (size_t)length);
        used += (size_t)length;
        out[used++] = '\0';
    }
    p_GENERAL_NAMES_free(names);
    return used;
}
const char *apus_X509_verify_cert_error_string(long code) { return p_X509_verify_cert_error_string(code); }

/* Memory BIOs */

struct bio_st *apus_BIO_new_mem(void) {
    BIO *bio = p_BIO_new(p_BIO_s_mem());
    if (bio != NULL) p_BIO_ctrl(bio, BIO_C_SET_BUF_MEM_EOF_RETURN, -1, NULL);
    return bio;
}
void apus_BIO_free(struct bio_st *bio) { p_BIO_free(bio); }
int apus_BIO_read(struct bio_st *bio, void *buffer, int length) { return p_BIO_read(bio, buffer, length); }
int apus_BIO_write(struct bio_st *bio, const void *buffer, int length) { return p_BIO_write(bio, buffer, length); }
int apus_BIO_pending(struct bio_st *bio) { return (int)p_BIO_ctrl(bio, BIO_CTRL_PENDING, 0, NULL); }

/* Error queue */

unsigned long apus_ERR_get_error(void) { return p_ERR_get_error(); }
void apus_ERR_clear_error(void) { p_ERR_clear_error(); }
void apus_ERR_error_string_n(unsigned long error, char *buffer, size_t length) {
    p_ERR_error_string_n(error, buffer, length);
}
int apus_ERR_GET_REASON(unsigned long error) { return ERR_GET_REASON(error); }

/* Crypto */

const struct evp_md_st *apus_EVP_sha256(void) { return p_EVP_sha256(); }
const struct evp_md_st *apus_EVP_md5(void) { return p_EVP_md5(); }
int apus_EVP_Digest(const void *data, size_t length, unsigned char *out, unsigned int *outLength,
                    const struct evp_md_st *md) {
    return p_EVP_Digest(data, length, out, outLength, md, NULL);
}
int apus_HMAC(const struct evp_md_st *md, const void *key, int keyLength, const unsigned char *data,
              size_t dataLength, unsigned char *out, unsigned int *outLength) {
    return p_HMAC(md, key, keyLength, data, dataLength, out, outLength) != NULL;
}
int apus_PKCS5_PBKDF2_HMAC(const char *password, int passwordLength, const unsigned char *salt,
                           int saltLength, int iterations, const struct evp_md_st *md, int keyLength,
                           unsigned char *out) {
    return p_PKCS5_PBKDF2_HMAC(password, passwordLength, salt, saltLength, iterations, md, keyLength, out);
}
int apus_RAND_bytes(unsigned char *buffer, int length) { return p_RAND_bytes(buffer, length); }

/* Signatures */

/* The passphrase callback: an encrypted key is refused, never prompted for. */
static int apus_no_passphrase(char *buffer, int size, int rwflag, void *user) {
    (void)buffer; (void)size; (void)rwflag; (void)user;
    return 0;
}

int apus_rs256_sign(const void *pem, int pemLength, const void *data, size_t dataLength, unsigned char *out,
                    size_t *outLength) {
    BIO *bio = p_BIO_new(p_BIO_s_mem());
    if (bio == NULL) return -2;
    if (pemLength <= 0 || p_BIO_write(bio, pem, pemLength) != pemLength) {
        p_BIO_free(bio);
        return 0;
    }
    EVP_PKEY *key = p_PEM_read_bio_PrivateKey(bio, NULL, apus_no_passphrase, NULL);
    p_BIO_free(bio);
    if (key == NULL) return 0;
    if (p_EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
        p_EVP_PKEY_free(key);
        return -1;
    }
    int result = -2;
    EVP_MD_CTX *context = p_EVP_MD_CTX_new();
    if (context != NULL) {
        if (p_EVP_DigestSignInit(context, NULL, p_EVP_sha256(), NULL, key) == 1 &&
            p_EVP_DigestSign(context, out, outLength, data, dataLength) == 1) {
            result = 1;
        }
        p_EVP_MD_CTX_free(context);
    }
    p_EVP_PKEY_free(key);
    return result;
}
