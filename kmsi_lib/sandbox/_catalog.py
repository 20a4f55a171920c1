"""Catalog app shapes, as a real org returns them (``GET /api/v1/apps``, recorded).

Taken from the recorded apps list of ``reference/okta/recordings`` (signing key ids
removed; hosts made Acme's). Seeded apps with these names take these shapes, so
the sandbox's catalog apps look like real ones rather than like custom apps.
"""

from __future__ import annotations

from typing import Any

CATALOG: dict[str, dict[str, Any]] = {
    "boxnet": {
        "signOnMode": "BROWSER_PLUGIN",
        "accessibility": {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None},
        "visibility": {
            "autoLaunch": False,
            "autoSubmitToolbar": True,
            "hide": {"iOS": False, "web": False},
            "appLinks": {"login": True},
        },
        "features": [],
        "credentials": {
            "scheme": "EDIT_USERNAME_AND_PASSWORD",
            "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
            "revealPassword": True,
            "signing": {},
        },
        "universalLogout": {
            "status": "DISABLED",
            "supportType": "FULL",
            "identityStack": "NOT_SHARED",
            "protocol": "PROPRIETARY",
        },
        "settings": {
            "app": {"groupFilter": None, "siteURL": None, "pushGroupsWithSAML": False},
            "notifications": {
                "vpn": {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}
            },
            "manualProvisioning": False,
            "implicitAssignment": False,
            "emOptInStatus": "NONE",
            "notes": {"admin": None, "enduser": None},
        },
    },
    "zoomus": {
        "signOnMode": "SAML_2_0",
        "accessibility": {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None},
        "visibility": {
            "autoLaunch": False,
            "autoSubmitToolbar": False,
            "hide": {"iOS": False, "web": False},
            "appLinks": {"login": True},
        },
        "features": [],
        "credentials": {
            "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
            "signing": {},
        },
        "universalLogout": {
            "status": "DISABLED",
            "supportType": "FULL",
            "identityStack": "NOT_SHARED",
            "protocol": "PROPRIETARY",
        },
        "settings": {
            "app": {"subDomain": None, "audience_uri": None, "acs_url": None},
            "notifications": {
                "vpn": {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}
            },
            "manualProvisioning": False,
            "implicitAssignment": False,
            "emOptInStatus": "NONE",
            "notes": {"admin": None, "enduser": None},
            "signOn": {
                "defaultRelayState": None,
                "ssoAcsUrlOverride": None,
                "audienceOverride": None,
                "recipientOverride": None,
                "destinationOverride": None,
                "attributeStatements": [],
                "configuredAttributeStatements": [
                    {
                        "type": "GROUP",
                        "name": "IMGroup",
                        "namespace": None,
                        "filterType": None,
                        "filterValue": None,
                    },
                    {
                        "type": "GROUP",
                        "name": "UserGroup",
                        "namespace": None,
                        "filterType": None,
                        "filterValue": None,
                    },
                ],
            },
        },
    },
    "bookmark": {
        "signOnMode": "BOOKMARK",
        "accessibility": {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None},
        "visibility": {
            "autoLaunch": False,
            "autoSubmitToolbar": False,
            "hide": {"iOS": False, "web": False},
            "appLinks": {"login": True},
        },
        "features": [],
        "credentials": {
            "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
            "signing": {},
        },
        "universalLogout": {"status": "UNSUPPORTED"},
        "settings": {
            "app": {"requestIntegration": False, "url": "https://intranet.acme.example.com/"},
            "notifications": {
                "vpn": {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}
            },
            "manualProvisioning": False,
            "implicitAssignment": False,
            "emOptInStatus": "NONE",
            "notes": {"admin": None, "enduser": None},
        },
    },
    "template_swa": {
        "signOnMode": "BROWSER_PLUGIN",
        "accessibility": {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None},
        "visibility": {
            "autoLaunch": False,
            "autoSubmitToolbar": False,
            "hide": {"iOS": False, "web": False},
            "appLinks": {"login": True},
        },
        "features": [],
        "credentials": {
            "scheme": "EDIT_USERNAME_AND_PASSWORD",
            "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
            "revealPassword": False,
            "signing": {},
        },
        "universalLogout": {"status": "UNSUPPORTED"},
        "settings": {
            "app": {
                "loginUrlRegex": None,
                "usernameField": "txtbox-username",
                "redirectUrl": None,
                "buttonField": "btn-login",
                "checkbox": None,
                "passwordField": "txtbox-password",
                "url": "https://timesheets.acme.example.com/login.html",
            },
            "notifications": {
                "vpn": {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}
            },
            "manualProvisioning": False,
            "implicitAssignment": False,
            "emOptInStatus": "NONE",
            "notes": {"admin": None, "enduser": None},
        },
    },
    "salesforce": {
        "signOnMode": "BROWSER_PLUGIN",
        "accessibility": {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None},
        "visibility": {
            "autoLaunch": False,
            "autoSubmitToolbar": True,
            "hide": {"iOS": False, "web": False},
            "appLinks": {"mc": True},
        },
        "features": [],
        "credentials": {
            "scheme": "EDIT_USERNAME_AND_PASSWORD",
            "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
            "revealPassword": True,
            "signing": {},
        },
        "universalLogout": {
            "status": "DISABLED",
            "supportType": "FULL",
            "identityStack": "NOT_SHARED",
            "protocol": "PROPRIETARY",
        },
        "settings": {
            "app": {
                "integrationType": "STANDARD",
                "siteURL": None,
                "loginUrl": None,
                "logoutUrl": None,
                "instanceType": "PRODUCTION",
                "portalID": None,
                "myDomain": None,
                "orgID": None,
                "customDomain": None,
            },
            "notifications": {
                "vpn": {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}
            },
            "manualProvisioning": False,
            "implicitAssignment": False,
            "emOptInStatus": "NONE",
            "notes": {"admin": None, "enduser": None},
        },
        "licensing": {"seatCount": 0},
    },
    "zendesk": {
        "signOnMode": "BROWSER_PLUGIN",
        "accessibility": {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None},
        "visibility": {
            "autoLaunch": False,
            "autoSubmitToolbar": True,
            "hide": {"iOS": False, "web": False},
            "appLinks": {"login": True},
        },
        "features": [],
        "credentials": {
            "scheme": "EDIT_USERNAME_AND_PASSWORD",
            "userNameTemplate": {
                "template": "user.login",
                "type": "CUSTOM",
                "pushStatus": "DONT_PUSH",
            },
            "revealPassword": True,
            "signing": {},
        },
        "universalLogout": {
            "status": "DISABLED",
            "supportType": "FULL",
            "identityStack": "NOT_SHARED",
            "protocol": "PROPRIETARY",
        },
        "settings": {
            "app": {"authToken": None, "companySubDomain": "acme", "encryptedAuthToken": None},
            "notifications": {
                "vpn": {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}
            },
            "manualProvisioning": False,
            "implicitAssignment": False,
            "emOptInStatus": "NONE",
            "notes": {"admin": None, "enduser": None},
        },
        "licensing": {"seatCount": 0},
    },
    "docusign": {
        "signOnMode": "SAML_2_0",
        "accessibility": {"selfService": False, "errorRedirectUrl": None, "loginRedirectUrl": None},
        "visibility": {
            "autoLaunch": False,
            "autoSubmitToolbar": True,
            "hide": {"iOS": False, "web": False},
            "appLinks": {"login": True},
        },
        "features": [],
        "credentials": {
            "userNameTemplate": {"template": "${source.login}", "type": "BUILT_IN"},
            "signing": {},
        },
        "universalLogout": {"status": "UNSUPPORTED"},
        "settings": {
            "app": {
                "acsUrl": None,
                "samlEmailAddress": "false",
                "audRestriction": None,
                "instanceType": "www",
            },
            "notifications": {
                "vpn": {"network": {"connection": "DISABLED"}, "message": None, "helpUrl": None}
            },
            "manualProvisioning": False,
            "implicitAssignment": False,
            "emOptInStatus": "NONE",
            "notes": {"admin": None, "enduser": None},
            "signOn": {
                "defaultRelayState": None,
                "ssoAcsUrlOverride": None,
                "audienceOverride": None,
                "recipientOverride": None,
                "destinationOverride": None,
                "honorForceAuthn": False,
                "attributeStatements": [],
            },
        },
    },
}

# The number ending each catalog app's launch link (/home/<name>/<appId>/<n>), as recorded;
# custom apps use an "aln..." id there instead.
APP_LINK_IDS: dict[str, str] = {
    "saasure": "2",
    "boxnet": "72",
    "zoomus": "1835",
    "bookmark": "2557",
    "template_swa": "2357",
    "salesforce": "46",
    "zendesk": "238",
    "docusign": "292",
}
