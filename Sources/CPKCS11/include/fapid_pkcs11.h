// PKCS#11 keys for fapid: private keys loaded through OpenSSL's pkcs11 engine (libp11), so that every
// signature is still an EVP_DigestSign inside OpenSSL, and key pairs generated inside a token.
#ifndef FAPID_PKCS11_H
#define FAPID_PKCS11_H

#include <stddef.h>

struct evp_pkey_st;

/// Loads the private key an RFC 7512 URI names, through the OpenSSL engine "pkcs11" driving `module`
/// (one module per process), logging in with `pin` (may be NULL). NULL on failure, with the reason in `error`.
struct evp_pkey_st *fapid_pkcs11_load_private_key(
    const char *module, const char *uri, const char *pin, char *error, size_t error_length);

/// Generates a key pair inside the token whose label is `token_label` (and, when not NULL, whose serial
/// number is `token_serial`): RSA with `rsa_bits` when `elliptic` is 0, P-256 otherwise. The private key
/// is sensitive and not extractable; both halves carry `id` and `label`. 0 on success, -1 with `error`.
int fapid_pkcs11_generate_key_pair(
    const char *module, const char *token_label, const char *token_serial, const char *pin, int elliptic, unsigned long rsa_bits,
    const unsigned char *id, size_t id_length, const char *label, char *error, size_t error_length);

/// Brackets a signature with a key loaded through the engine (a shared lock against loads and generation).
void fapid_pkcs11_signing_begin(void);
void fapid_pkcs11_signing_end(void);

#endif
