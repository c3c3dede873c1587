"""Identity: the Cognito user pool and its app client, and the SES sender identity."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_ses as ses
from constructs import Construct

from . import nag


class Identity(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        sender_domain: str,
        cognito_email_via_ses: bool = False,
        groups: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(scope, construct_id)
        self.sender_domain = sender_domain
        self.sender = f"no-reply@{sender_domain}"

        # DKIM-signed domain identity; the DNS records to publish are shown in the SES console.
        self.email_identity = ses.EmailIdentity(
            self, "SenderIdentity", identity=ses.Identity.domain(sender_domain)
        )

        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            sign_in_aliases=cognito.SignInAliases(email=True),
            sign_in_case_sensitive=False,
            self_sign_up_enabled=True,
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            keep_original=cognito.KeepOriginalAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=False,
                temp_password_validity=Duration.days(3),
            ),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            # Cognito's own mailer is capped at a few dozen emails a day: once the SES domain is
            # verified (and out of the SES sandbox), deploy with -c cognito_email_via_ses=true.
            email=(
                cognito.UserPoolEmail.with_ses(
                    from_email=self.sender,
                    from_name="Orchestre",
                    ses_verified_domain=sender_domain,
                    ses_region=Stack.of(self).region,  # the SES identity above, same region
                )
                if cognito_email_via_ses
                else cognito.UserPoolEmail.with_cognito()
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            feature_plan=cognito.FeaturePlan.ESSENTIALS,
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        if cognito_email_via_ses:
            self.user_pool.node.add_dependency(self.email_identity)
        nag.acknowledge_all(
            self.user_pool,
            {
                "AwsSolutions-COG1": (
                    "Password policy is 12+ characters with lower case, upper case and digits; "
                    "symbols are not required (NIST SP 800-63B favours length over composition "
                    "rules)."
                ),
                "AwsSolutions-COG2": (
                    "MFA (TOTP) is OPTIONAL in the pool, not REQUIRED: integrators' technical "
                    "accounts sign in non-interactively with USER_PASSWORD_AUTH, which cannot "
                    "answer an MFA challenge. The platform requires TOTP of every structure "
                    "manager itself (MFA_REQUIRED_FOR_MANAGERS, on in this app); users can enable it."
                ),
                "AwsSolutions-COG8": (
                    "Essentials feature plan: the Plus tier (threat protection) is billed per "
                    "monthly active user and is left to the operator of each deployment."
                ),
            },
        )

        # groups of the spec: "operators" may call /v1/admin/... (the admin function checks the claim)
        self.groups = {
            name: cognito.CfnUserPoolGroup(self, f"{name.title()}Group", user_pool_id=self.user_pool.user_pool_id,
                                           group_name=name, description=description)
            for name, description in groups
        }

        self.client = self.user_pool.add_client(
            "ApiClient",
            auth_flows=cognito.AuthFlow(user_password=True),
            generate_secret=False,
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
        )
