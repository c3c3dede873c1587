"""moto's Cognito software tokens (TOTP), with a secret of each user's own, as Cognito has.

moto 5.2.5 hands every user the same 12-character secret, too short for authenticator apps (and
for pyotp, which wants 112 bits at least). Here ``AssociateSoftwareToken`` gives each user a new
random 160-bit secret (kept on the user, so it is saved with the local state), and the calls that
check a code (``VerifySoftwareToken``, the ``SOFTWARE_TOKEN_MFA`` answer of a sign-in) check it
against that user's secret, in its step or the one before. moto checks codes once ``MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP`` is
set (runtime.py sets it). Touches moto internals: moto's version is pinned.
"""

from __future__ import annotations

import threading

_lock = threading.Lock()  # the secret moto reads is a module global: one check at a time


def install() -> None:
    import pyotp
    from moto.cognitoidp import models

    backend = models.CognitoIdpBackend
    if getattr(backend.associate_software_token, "_orchestre_totp", False):
        return

    def user_of_token(self, access_token: str):
        for pool in self.user_pools.values():
            if access_token in pool.access_tokens:
                return self.admin_get_user(pool.id, pool.access_tokens[access_token][1])
        return None

    def user_of_session(self, session: str):
        if session in self.sessions:
            username, pool = self.sessions[session]
            return self.admin_get_user(pool.id, username)
        return None

    def with_secret(user, call):
        with _lock:
            saved = models.COGNITO_TOTP_MFA_SECRET
            models.COGNITO_TOTP_MFA_SECRET = getattr(user, "totp_secret", None) or saved
            try:
                return call()
            finally:
                models.COGNITO_TOTP_MFA_SECRET = saved

    original_associate = backend.associate_software_token
    original_verify = backend.verify_software_token
    original_respond = backend.respond_to_auth_challenge

    def associate_software_token(self, access_token, session):
        out = original_associate(self, access_token, session)  # moto's checks of the token or session
        user = user_of_session(self, session) if session else user_of_token(self, access_token)
        if user is not None:
            user.totp_secret = pyotp.random_base32(32)
            out["SecretCode"] = user.totp_secret
        return out

    def verify_software_token(self, access_token, session, user_code, friendly_device_name):
        user = user_of_session(self, session) if session else user_of_token(self, access_token)
        return with_secret(user, lambda: original_verify(self, access_token, session, user_code,
                                                         friendly_device_name))

    def respond_to_auth_challenge(self, session, client_id, challenge_name, challenge_responses):
        user = user_of_session(self, session)
        return with_secret(user, lambda: original_respond(self, session, client_id, challenge_name,
                                                          challenge_responses))

    def verify_totp(totp, code: bytes, valid_window: int = 0) -> None:
        """The code of the current step, or of the one before: Cognito's tolerance of a code typed at the end
        of its step [U: AWS documents "clock skew" as a reason to refuse, not the window; RFC 6238 §5.2
        recommends one step back, which the platform accepts too]."""
        import time

        from cryptography.hazmat.primitives.twofactor import InvalidToken

        for back in (0, 1):
            try:
                totp.verify(code, int(time.time()) - back * 30)
                return
            except InvalidToken:
                continue
        raise InvalidToken("Supplied TOTP value does not match.")

    models.verify_totp = verify_totp
    associate_software_token._orchestre_totp = True
    backend.associate_software_token = associate_software_token
    backend.verify_software_token = verify_software_token
    backend.respond_to_auth_challenge = respond_to_auth_challenge
