#ifndef APUS_COPENSSL_H
#define APUS_COPENSSL_H
/* apus_-prefixed OpenSSL calls, resolved from libssl.so.3 with dlopen on first use. */
int apus_openssl_available(void);
#endif
