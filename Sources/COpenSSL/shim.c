#include "COpenSSL.h"
int apus_openssl_available(void) { return 0; }
