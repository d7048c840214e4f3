// pthread_rwlockattr_setkind_np (a writer-preferring lock) is a GNU extension.
#define _GNU_SOURCE 1
// The engine API is deprecated in OpenSSL 3 but is what Debian 12's libp11 (libengine-pkcs11-openssl) offers;
// the key it returns is an ordinary EVP_PKEY, signed with through EVP_DigestSign like any other.
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "fapid_pkcs11.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ui.h>

#include <p11-kit-1/p11-kit/pkcs11.h>

// Loading a key (which may make libp11 enumerate the token's slots and objects again) and generating one take it for
// writing; signing with a token key takes it for reading (fapid_pkcs11_signing_begin), so no slot or key object is
// freed under a signature in progress.
//
// glibc's default rwlock prefers readers: under a steady stream of signatures a load would wait for ever (and a staged
// key would never be loaded). So writers are preferred, the lock made once with that kind.
static pthread_rwlock_t engine_lock;
static pthread_once_t engine_lock_once = PTHREAD_ONCE_INIT;

static void make_engine_lock(void) {
    pthread_rwlockattr_t attributes;
    pthread_rwlockattr_init(&attributes);
    pthread_rwlockattr_setkind_np(&attributes, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&engine_lock, &attributes);
    pthread_rwlockattr_destroy(&attributes);
}

static void lock_for_writing(void) {
    pthread_once(&engine_lock_once, make_engine_lock);
    pthread_rwlock_wrlock(&engine_lock);
}
static ENGINE *engine = NULL;
static char engine_module[4096];

static void report(char *error, size_t length, const char *what) {
    if (error == NULL || length == 0) return;
    unsigned long code = ERR_peek_last_error();
    if (code != 0) {
        char reason[256];
        ERR_error_string_n(code, reason, sizeof reason);
        snprintf(error, length, "%s (%s)", what, reason);
    } else {
        snprintf(error, length, "%s", what);
    }
    ERR_clear_error();
}

// The engine, loaded once with `module` and kept for the life of the process (finishing it would C_Finalize the
// module under the keys it loaded); NULL (and `error`) when it cannot be, or when another module was loaded.
static ENGINE *engine_for(const char *module, char *error, size_t error_length) {
    if (engine != NULL) {
        if (strcmp(engine_module, module) != 0) {
            snprintf(error, error_length, "the PKCS#11 module %s is loaded; one module per process", engine_module);
            return NULL;
        }
        return engine;
    }
    if (strlen(module) >= sizeof engine_module) {
        snprintf(error, error_length, "the PKCS#11 module path is too long");
        return NULL;
    }
    ENGINE_load_builtin_engines();
    ENGINE *loaded = ENGINE_by_id("pkcs11");
    if (loaded == NULL) {
        report(error, error_length, "the OpenSSL engine pkcs11 is not installed (Debian: libengine-pkcs11-openssl)");
        return NULL;
    }
    if (ENGINE_ctrl_cmd_string(loaded, "MODULE_PATH", module, 0) != 1) {
        report(error, error_length, "the pkcs11 engine refused the module path");
        ENGINE_free(loaded);
        return NULL;
    }
    if (ENGINE_init(loaded) != 1) {
        report(error, error_length, "the pkcs11 engine did not initialise the module");
        ENGINE_free(loaded);
        return NULL;
    }
    strcpy(engine_module, module);
    engine = loaded;
    return engine;
}

EVP_PKEY *fapid_pkcs11_load_private_key(const char *module, const char *uri, const char *pin, char *error, size_t error_length) {
    lock_for_writing();
    EVP_PKEY *key = NULL;
    ENGINE *e = engine_for(module, error, error_length);
    if (e != NULL) {
        if (pin != NULL && ENGINE_ctrl_cmd_string(e, "PIN", pin, 0) != 1) {
            report(error, error_length, "the pkcs11 engine refused the PIN");
        } else {
            // libp11 searches the token's objects again on each load, so a key made after the engine started (fapictl
            // keys generate or import while the daemon runs) is found.
            // Never a prompt: without a configured PIN, UI_null answers nothing and the login fails.
            key = ENGINE_load_private_key(e, uri, pin == NULL ? (UI_METHOD *)UI_null() : NULL, NULL);
            if (key == NULL) {
                report(error, error_length,
                    pin == NULL ? "the token has no such private key, or it needs a PIN and none is configured (pkcs11_pin_file or FAPID_PKCS11_PIN)"
                                : "the token has no such private key, or it is not reachable");
            }
        }
    }
    pthread_rwlock_unlock(&engine_lock);
    return key;
}

void fapid_pkcs11_signing_begin(void) {
    pthread_once(&engine_lock_once, make_engine_lock);
    pthread_rwlock_rdlock(&engine_lock);
}

void fapid_pkcs11_signing_end(void) { pthread_rwlock_unlock(&engine_lock); }

static void blank_padded(char *out, const unsigned char *field, size_t length) {
    while (length > 0 && (field[length - 1] == ' ' || field[length - 1] == '\0')) length--;
    memcpy(out, field, length);
    out[length] = '\0';
}

static int fail(char *error, size_t length, const char *what, CK_RV rv) {
    snprintf(error, length, "%s (PKCS#11 error 0x%lx)", what, (unsigned long)rv);
    return -1;
}

static int generate_key_pair(
    const char *module, const char *token_label, const char *token_serial, const char *pin, int elliptic, unsigned long rsa_bits,
    const unsigned char *id, size_t id_length, const char *label, char *error, size_t error_length);

// Under the engine's lock: the module's state (initialised, logged in) is per process, shared with the engine, and
// must not be finalised while the engine uses it.
int fapid_pkcs11_generate_key_pair(
    const char *module, const char *token_label, const char *token_serial, const char *pin, int elliptic, unsigned long rsa_bits,
    const unsigned char *id, size_t id_length, const char *label, char *error, size_t error_length) {
    lock_for_writing();
    int result = generate_key_pair(module, token_label, token_serial, pin, elliptic, rsa_bits, id, id_length, label, error, error_length);
    pthread_rwlock_unlock(&engine_lock);
    return result;
}

static int generate_key_pair(
    const char *module, const char *token_label, const char *token_serial, const char *pin, int elliptic, unsigned long rsa_bits,
    const unsigned char *id, size_t id_length, const char *label, char *error, size_t error_length) {
    void *library = dlopen(module, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        snprintf(error, error_length, "cannot load the PKCS#11 module %s", module);
        return -1;
    }
    CK_C_GetFunctionList get_list = (CK_C_GetFunctionList)dlsym(library, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR p11 = NULL;
    int result = -1;
    if (get_list == NULL || get_list(&p11) != CKR_OK || p11 == NULL) {
        snprintf(error, error_length, "%s is not a PKCS#11 module", module);
        dlclose(library);
        return -1;
    }
    CK_C_INITIALIZE_ARGS arguments;
    memset(&arguments, 0, sizeof arguments);
    arguments.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = p11->C_Initialize(&arguments);
    // Finalise only what this call initialised, and never under the engine's feet.
    int finalize = rv == CKR_OK && engine == NULL;
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        fail(error, error_length, "the PKCS#11 module did not initialise", rv);
        dlclose(library);
        return -1;
    }
    CK_SLOT_ID slots[64];
    CK_ULONG count = 64;
    CK_SLOT_ID slot = 0;
    int found = 0;
    rv = p11->C_GetSlotList(CK_TRUE, slots, &count);
    if (rv != CKR_OK) {
        fail(error, error_length, "cannot list the token slots", rv);
        goto done;
    }
    for (CK_ULONG index = 0; index < count && !found; index++) {
        CK_TOKEN_INFO info;
        if (p11->C_GetTokenInfo(slots[index], &info) != CKR_OK) continue;
        char seen_label[sizeof info.label + 1], seen_serial[sizeof info.serialNumber + 1];
        blank_padded(seen_label, info.label, sizeof info.label);
        blank_padded(seen_serial, info.serialNumber, sizeof info.serialNumber);
        if (strcmp(seen_label, token_label) == 0 && (token_serial == NULL || strcmp(seen_serial, token_serial) == 0)) {
            slot = slots[index];
            found = 1;
        }
    }
    if (!found) {
        snprintf(error, error_length, "no token with that label%s is present", token_serial ? " and serial" : "");
        goto done;
    }
    CK_SESSION_HANDLE session;
    rv = p11->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session);
    if (rv != CKR_OK) {
        fail(error, error_length, "cannot open a session on the token", rv);
        goto done;
    }
    // Login is per process, not per session: log out afterwards only when this call logged in, or the engine's
    // sessions would lose sight of the token's private keys.
    int logout = 0;
    if (pin != NULL) {
        rv = p11->C_Login(session, CKU_USER, (CK_UTF8CHAR_PTR)pin, strlen(pin));
        logout = rv == CKR_OK;
        if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
            fail(error, error_length, rv == CKR_PIN_INCORRECT ? "the token refused the PIN" : "cannot log in to the token", rv);
            p11->C_CloseSession(session);
            goto done;
        }
    }
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG bits = rsa_bits;
    CK_BYTE exponent[] = {0x01, 0x00, 0x01};
    // DER of the OID prime256v1 (1.2.840.10045.3.1.7), RFC 5480 §2.1.1.1.
    CK_BYTE p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
    CK_ULONG label_length = strlen(label);
    CK_ATTRIBUTE public_template[] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_ID, (void *)id, id_length},
        {CKA_LABEL, (void *)label, label_length},
        {elliptic ? CKA_EC_PARAMS : CKA_MODULUS_BITS, elliptic ? (void *)p256 : (void *)&bits, elliptic ? sizeof p256 : sizeof bits},
        {CKA_PUBLIC_EXPONENT, exponent, sizeof exponent},
    };
    CK_ATTRIBUTE private_template[] = {
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},
        {CKA_ID, (void *)id, id_length},
        {CKA_LABEL, (void *)label, label_length},
    };
    CK_MECHANISM mechanism = {elliptic ? CKM_EC_KEY_PAIR_GEN : CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE public_key, private_key;
    CK_ULONG public_count = elliptic ? 5 : 6;
    rv = p11->C_GenerateKeyPair(
        session, &mechanism, public_template, public_count, private_template, sizeof private_template / sizeof private_template[0], &public_key,
        &private_key);
    if (rv != CKR_OK) {
        fail(error, error_length, "the token did not generate the key pair", rv);
    } else {
        result = 0;
    }
    if (logout) p11->C_Logout(session);
    p11->C_CloseSession(session);
done:
    if (finalize) p11->C_Finalize(NULL);
    dlclose(library);
    return result;
}
