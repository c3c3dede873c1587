"""The REST API: one resource tree built from every function's routes."""

from __future__ import annotations

import json
import re
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from . import nag

STAGE_NAME = "api"
THROTTLING_RATE_LIMIT = 50  # requests per second, steady state, whole stage
THROTTLING_BURST_LIMIT = 100
# Errors that API Gateway answers itself, shaped like the functions' problems (same codes as the
# local gateway): (response type, status, code, detail).
GATEWAY_PROBLEMS = (
    (apigw.ResponseType.UNAUTHORIZED, "401", "UNAUTHENTICATED", "A valid bearer access token is required."),
    (apigw.ResponseType.ACCESS_DENIED, "403", "FORBIDDEN", "The token does not grant this route."),
    (apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN, "404", "ROUTE_NOT_FOUND", "No such route."),
    (apigw.ResponseType.REQUEST_TOO_LARGE, "413", "PAYLOAD_TOO_LARGE", "The request exceeds 10 MB; use POST /v1/uploads."),
    (apigw.ResponseType.THROTTLED, "429", "THROTTLED", "Too many requests; retry with backoff."),
    (apigw.ResponseType.BAD_REQUEST_PARAMETERS, "400", "VALIDATION_ERROR", "A required parameter is missing."),
    (apigw.ResponseType.DEFAULT_5_XX, "502", "BAD_GATEWAY", "The platform failed to answer; retry later."),
)
PATH_PARAMETER = re.compile(r"^\{([A-Za-z0-9_]+)\+?\}$")
F = apigw.AccessLogField
# One JSON line per request; "sub" is the Cognito user (no token, no body, no query string).
ACCESS_LOG_FORMAT = apigw.AccessLogFormat.custom(
    json.dumps(
        {
            "requestId": F.context_request_id(),
            "requestTime": F.context_request_time(),
            "ip": F.context_identity_source_ip(),
            "sub": F.context_authorizer_claims("sub"),
            "httpMethod": F.context_http_method(),
            "resourcePath": F.context_resource_path(),
            "status": F.context_status(),
            "protocol": F.context_protocol(),
            "responseLength": F.context_response_length(),
            "responseLatency": F.context_response_latency(),
            "integrationLatency": F.context_integration_latency(),
            "integrationStatus": F.context_integration_status(),
            "errorMessage": F.context_error_message(),
            "xrayTraceId": F.context_xray_trace_id(),
        }
    )
)


def route_methods(spec: Any) -> dict[tuple[str, str], tuple[str, bool]]:
    """(path, HTTP method) -> (function name, public) for every route of the spec."""
    methods: dict[tuple[str, str], tuple[str, bool]] = {}
    for f in spec.FUNCTIONS:
        for route in f.routes:
            if not route.path.startswith("/"):
                raise ValueError(f"{f.name}: route path {route.path!r} must start with '/'")
            for method in route.methods:
                key = (route.path.rstrip("/") or "/", method.upper())
                if key in methods:
                    raise ValueError(f"{key} is served by both {methods[key][0]} and {f.name}")
                methods[key] = (f.name, route.public)
    return methods


class Api(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        spec: Any,
        functions: dict[str, lambda_.Function],
        user_pool: cognito.IUserPool,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=log_retention)
        self.rest_api = apigw.RestApi(
            self,
            "RestApi",
            rest_api_name=f"{Stack.of(self).stack_name}-api",
            description="Orchestre public e-invoicing API",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            # Sets the account's API Gateway CloudWatch role, needed for execution logging.
            cloud_watch_role=True,
            deploy_options=apigw.StageOptions(
                stage_name=STAGE_NAME,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=ACCESS_LOG_FORMAT,
                tracing_enabled=True,
                metrics_enabled=True,
                logging_level=apigw.MethodLoggingLevel.ERROR,
                data_trace_enabled=False,  # request bodies hold invoices and personal data
                throttling_rate_limit=THROTTLING_RATE_LIMIT,
                throttling_burst_limit=THROTTLING_BURST_LIMIT,
            ),
        )
        self.stage = self.rest_api.deployment_stage
        nag.acknowledge(
            self.stage,
            "AwsSolutions-APIG3",
            "AWS WAF is out of scope of the open-source default deployment (cost and rules are "
            "the operator's choice); stage throttling and Cognito authorization are in place.",
        )
        cloud_watch_role = self.rest_api.node.find_child("CloudWatchRole")
        nag.acknowledge(
            cloud_watch_role,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AmazonAPIGatewayPushToCloudWatchLogs]",
            "The account-level API Gateway logging role uses the AWS service-role policy made "
            "for it; API Gateway writes to log groups it names itself.",
        )

        for response_type, status, code, detail in GATEWAY_PROBLEMS:
            body = {"type": f"https://orchestre.dev/problems/{code.lower().replace('_', '-')}", "title": detail,
                    "status": int(status), "code": code,
                    "detail": detail, "correlation_id": "$context.requestId"}
            self.rest_api.add_gateway_response(
                f"Problem{code.title().replace('_', '')}",
                type=response_type,
                status_code=status,
                response_headers={"Content-Type": "'application/problem+json'",
                                  "X-Correlation-Id": "context.requestId"},
                templates={"application/json": json.dumps(body)},
            )

        self.validator = self.rest_api.add_request_validator(
            "RequestValidator", validate_request_body=True, validate_request_parameters=True
        )
        self.authorizer = apigw.CognitoUserPoolsAuthorizer(
            self,
            "Authorizer",
            cognito_user_pools=[user_pool],
            identity_source=apigw.IdentitySource.header("Authorization"),
        )

        integrations = {
            name: apigw.LambdaIntegration(fn, proxy=True, scope_permission_to_method=False)
            for name, fn in functions.items()
        }
        self.resources: dict[str, apigw.IResource] = {"/": self.rest_api.root}
        self.methods: dict[tuple[str, str], apigw.Method] = {}
        for (path, verb), (function_name, public) in route_methods(spec).items():
            resource = self._resource(path)
            params = {
                f"method.request.path.{m.group(1)}": True
                for segment in path.split("/")
                if (m := PATH_PARAMETER.match(segment))
            }
            options: dict[str, Any] = {
                "request_validator": self.validator,
                "request_parameters": params or None,
            }
            options.update(self._authorization(public, spec))
            method = resource.add_method(verb, integrations[function_name], **options)
            if public:
                nag.acknowledge_all(
                    method,
                    {"AwsSolutions-APIG4": nag.PUBLIC_ROUTE, "AwsSolutions-COG4": nag.PUBLIC_ROUTE},
                )
            self.methods[(path, verb)] = method
        self._method_not_allowed(route_methods(spec), integrations, spec)

    def _method_not_allowed(self, routes: dict[tuple[str, str], tuple[str, bool]], integrations: dict,
                            spec: Any) -> None:
        """405 with ``Allow`` on a known path for the methods it does not serve, as the local gateway
        answers. API Gateway routes a method with no explicit definition to the resource's ``ANY``.
        On a ``{proxy+}`` resource the ``ANY`` invokes its function, whose resolver knows which
        methods each path under it serves (405 with that ``Allow``, or 404); elsewhere it is a mock
        answering 405 with the resource's methods (no function runs)."""
        served: dict[str, set[str]] = {}
        for path, verb in routes:
            served.setdefault(path, set()).add(verb)
        for path, verbs in sorted(served.items()):
            if "ANY" in verbs:
                continue
            if path.endswith("+}"):
                function_name, public = routes[(path, sorted(verbs)[0])]
                self.methods[(path, "ANY")] = self._resource(path).add_method(
                    "ANY", integrations[function_name], **self._authorization(public, spec))
                continue
            allow = ", ".join(sorted(verbs))
            detail = f"This method is not served on this path; use {allow}."
            body = {"type": "https://orchestre.dev/problems/method-not-allowed", "title": "Method Not Allowed",
                    "status": 405, "code": "METHOD_NOT_ALLOWED", "detail": detail, "correlation_id": "$context.requestId"}
            headers = {"Allow": f"'{allow}'", "Content-Type": "'application/problem+json'",
                       "X-Correlation-Id": "context.requestId"}
            integration = apigw.MockIntegration(
                request_templates={"application/json": '{"statusCode": 405}'},
                passthrough_behavior=apigw.PassthroughBehavior.NEVER,
                integration_responses=[apigw.IntegrationResponse(
                    status_code="405",
                    response_templates={"application/json": json.dumps(body)},
                    response_parameters={f"method.response.header.{k}": v for k, v in headers.items()},
                )],
            )
            method = self._resource(path).add_method(
                "ANY", integration, authorization_type=apigw.AuthorizationType.NONE,
                method_responses=[apigw.MethodResponse(
                    status_code="405", response_parameters={f"method.response.header.{k}": True for k in headers})],
            )
            nag.acknowledge_all(method, {"AwsSolutions-APIG4": nag.METHOD_NOT_ALLOWED,
                                         "AwsSolutions-COG4": nag.METHOD_NOT_ALLOWED})
            self.methods[(path, "ANY")] = method

    def _authorization(self, public: bool, spec: Any) -> dict[str, Any]:
        if public:
            return {"authorization_type": apigw.AuthorizationType.NONE}
        return {"authorization_type": apigw.AuthorizationType.COGNITO, "authorizer": self.authorizer,
                "authorization_scopes": [spec.AUTH_SCOPE]}

    def _resource(self, path: str) -> apigw.IResource:
        """The resource for a path, creating the missing ancestors once (shared prefixes)."""
        if path in self.resources:
            return self.resources[path]
        parent_path, _, segment = path.rpartition("/")
        parent = self._resource(parent_path or "/")
        resource = parent.add_resource(segment)
        self.resources[path] = resource
        return resource
