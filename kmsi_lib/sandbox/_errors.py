"""Okta error objects, as the real API writes them.

Handlers raise :class:`ApiError`; the app turns it into the JSON body
``{errorCode, errorSummary, errorLink, errorId, errorCauses}`` with the
status the error catalogue gives for that code.
"""

from __future__ import annotations

from collections.abc import Mapping

# code -> (HTTP status, summary template); from Okta's error catalogue (docs/error-codes.json).
CATALOGUE: dict[str, tuple[int, str]] = {
    "E0000001": (400, "Api validation failed: {0}"),
    "E0000002": (400, "The request was not valid: {0}"),
    "E0000003": (400, "The request body was not well-formed."),
    "E0000005": (403, "Invalid session"),
    "E0000006": (403, "You do not have permission to perform the requested action"),
    "E0000007": (404, "Not found: {0}"),
    "E0000008": (404, "The requested path was not found"),
    "E0000009": (500, "Internal Server Error"),
    "E0000011": (401, "Invalid token provided"),
    "E0000015": (401, "You do not have permission to access the feature you are requesting"),
    "E0000022": (405, "The endpoint does not support the provided HTTP method"),
    "E0000028": (400, "The request is missing a required parameter."),
    "E0000031": (400, "Invalid search criteria."),
    "E0000033": (400, "Bad request. Can't specify a search query and filter in the same request."),
    "E0000047": (429, "API call exceeded rate limit due to too many requests."),
    "E0000053": (400, "Invalid SCIM filter."),
    "E0000086": (403, "This policy cannot be activated at this time."),
    "E0000181": (503, "Service temporarily unavailable."),
    "E0000200": (409, "A default brand cannot be deleted."),
    "E0000202": (409, "Brand name already exists."),
    "E0000213": (403, "Cannot update page content for the default brand."),
    "E0000239": (423, "Policy priorities are being reconciled. Please try again later."),
}


class ApiError(Exception):
    """An Okta error response: status, code, summary and causes."""

    def __init__(
        self,
        code: str,
        detail: str = "",
        *,
        causes: list[dict[str, str]] | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        summary: str | None = None,
    ) -> None:
        default_status, template = CATALOGUE[code]
        self.code = code
        self.status = status if status is not None else default_status
        # some codes carry a message of their own (the System Log's E0000053 does)
        self.summary = (
            summary
            if summary is not None
            else (template.replace("{0}", detail) if "{0}" in template else template)
        )
        self.causes = causes or []
        self.headers = dict(headers or {})
        super().__init__(f"{self.status} {code}: {self.summary}")

    def body(self, error_id: str) -> dict[str, object]:
        return {
            "errorCode": self.code,
            "errorSummary": self.summary,
            "errorLink": self.code,
            "errorId": error_id,
            "errorCauses": self.causes,
        }


def validation(field: str, message: str) -> ApiError:
    """400 E0000001 naming the offending field, as Okta reports validation failures."""
    return ApiError("E0000001", field, causes=[{"errorSummary": f"{field}: {message}"}])


def not_found(key: str, kind: str) -> ApiError:
    """404 E0000007 in the recorded form ``Not found: Resource not found: <id> (<Type>)``."""
    return ApiError("E0000007", f"Resource not found: {key} ({kind})")


def malformed() -> ApiError:
    return ApiError("E0000003")
