// Thin C shim over the system OpenSSL 3 headers.
// Only what Swift cannot call directly lives here: macros and variadic functions.
#ifndef FAPID_COPENSSL_SHIM_H
#define FAPID_COPENSSL_SHIM_H

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>

// EVP_RSA_gen is a macro over the variadic EVP_PKEY_Q_keygen.
static inline EVP_PKEY *fapid_rsa_generate(unsigned int bits) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
}

// EVP_EC_gen is a macro over the variadic EVP_PKEY_Q_keygen.
static inline EVP_PKEY *fapid_ec_generate(const char *curve) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}

static inline EVP_PKEY *fapid_ed25519_generate(void) {
    return EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
}

// OPENSSL_free is a macro over CRYPTO_free with file/line arguments.
static inline void fapid_openssl_free(void *pointer) {
    OPENSSL_free(pointer);
}

// sk_X509_* are macros over the generic OPENSSL_sk_* functions.
static inline STACK_OF(X509) *fapid_x509_stack_new(void) { return sk_X509_new_null(); }
static inline int fapid_x509_stack_push(STACK_OF(X509) *stack, X509 *certificate) { return sk_X509_push(stack, certificate); }
static inline void fapid_x509_stack_free(STACK_OF(X509) *stack) { sk_X509_free(stack); }
static inline void fapid_x509_stack_pop_free(STACK_OF(X509) *stack) { sk_X509_pop_free(stack, X509_free); }
static inline int fapid_x509_stack_count(STACK_OF(X509) *stack) { return sk_X509_num(stack); }
static inline X509 *fapid_x509_stack_value(STACK_OF(X509) *stack, int index) { return sk_X509_value(stack, index); }

static inline int fapid_general_names_count(GENERAL_NAMES *names) { return sk_GENERAL_NAME_num(names); }
static inline GENERAL_NAME *fapid_general_names_value(GENERAL_NAMES *names, int index) { return sk_GENERAL_NAME_value(names, index); }
static inline void fapid_general_names_free(GENERAL_NAMES *names) { GENERAL_NAMES_free(names); }

// OCSP responder URLs from the AIA extension (a STACK_OF(OPENSSL_STRING)).
static inline int fapid_string_stack_count(STACK_OF(OPENSSL_STRING) *stack) { return sk_OPENSSL_STRING_num(stack); }
static inline const char *fapid_string_stack_value(STACK_OF(OPENSSL_STRING) *stack, int index) { return sk_OPENSSL_STRING_value(stack, index); }

// CRL distribution points.
static inline int fapid_dist_points_count(CRL_DIST_POINTS *points) { return sk_DIST_POINT_num(points); }
static inline DIST_POINT *fapid_dist_points_value(CRL_DIST_POINTS *points, int index) { return sk_DIST_POINT_value(points, index); }

// Entries of a CRL (for their critical extensions).
static inline int fapid_revoked_count(STACK_OF(X509_REVOKED) *stack) { return sk_X509_REVOKED_num(stack); }
static inline X509_REVOKED *fapid_revoked_value(STACK_OF(X509_REVOKED) *stack, int index) { return sk_X509_REVOKED_value(stack, index); }

// Generic ASN.1 sequences (QCStatements are not known to OpenSSL, so they are read as ASN1_SEQUENCE_ANY).
static inline int fapid_asn1_types_count(ASN1_SEQUENCE_ANY *stack) { return sk_ASN1_TYPE_num(stack); }
static inline ASN1_TYPE *fapid_asn1_types_value(ASN1_SEQUENCE_ANY *stack, int index) { return sk_ASN1_TYPE_value(stack, index); }
static inline void fapid_asn1_types_free(ASN1_SEQUENCE_ANY *stack) { sk_ASN1_TYPE_pop_free(stack, ASN1_TYPE_free); }

// BIO_get_mem_data is a macro over BIO_ctrl.
static inline long fapid_bio_mem_data(BIO *bio, char **data) { return BIO_get_mem_data(bio, data); }

// XN_FLAG_RFC2253 is an OR of macros, without ESC_MSB so UTF-8 names stay readable.
static inline unsigned long fapid_name_flags_rfc2253(void) { return XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB; }

// EVP_PKEY_fromdata selections are OR-ed macros.
static inline int fapid_selection_keypair(void) { return EVP_PKEY_KEYPAIR; }
static inline int fapid_selection_public_key(void) { return EVP_PKEY_PUBLIC_KEY; }

#endif
