"""The default sign-in page of a brand, as a real Identity Engine org serves it.

Taken from the recorded ``GET /api/v1/brands/{brandId}/pages/sign-in/default``
(``reference/okta/recordings/TestAccDataSourceOktaDefaultSigninPage_read``): Okta's
page template and default widget labels are data the API returns, not prose.
"""

from __future__ import annotations

DEFAULT_PAGE_CONTENT = (
    '<!DOCTYPE html PUBLIC "-//W3C//DTD HTML 4.01//EN" "http://www.w3.org/TR/html4/strict.dtd">\n'
    "<html>\n"
    "<head>\n"
    '    <meta http-equiv="Content-Type" content="text/html; charset=UTF-8">\n'
    '    <meta name="viewport" content="width=device-width, initial-scale=1.0" />\n'
    '    <meta name="robots" content="noindex,nofollow" />\n'
    "    <!-- Styles generated from theme -->\n"
    '    <link href="{{themedStylesUrl}}" rel="stylesheet" type="text/css">\n'
    "    <!-- Favicon from theme -->\n"
    '    <link rel="shortcut icon" href="{{faviconUrl}}" type="image/x-icon"/>\n'
    "\n"
    "    <title>{{pageTitle}}</title>\n"
    "    {{{SignInWidgetResources}}}\n"
    "\n"
    '    <style nonce="{{nonceValue}}">\n'
    "        {{#useSiwGen3}}\n"
    "        html {\n"
    "            font-size: 87.5%;\n"
    "        }\n"
    "        {{/useSiwGen3}}\n"
    "\n"
    "        #login-bg-image-id {\n"
    "            background-image: {{bgImageUrl}}\n"
    "        }\n"
    "    </style>\n"
    "</head>\n"
    "<body>\n"
    '    <div id="login-bg-image-id" class="login-bg-image tb--background"></div>\n'
    '    <div id="okta-login-container"></div>\n'
    "\n"
    "    <!--\n"
    '        "OktaUtil" defines a global OktaUtil object\n'
    "        that contains methods used to complete the Okta login flow.\n"
    "     -->\n"
    "    {{{OktaUtil}}}\n"
    "\n"
    '    <script type="text/javascript" nonce="{{nonceValue}}">\n'
    '        // "config" object contains default widget configuration\n'
    "        // with any custom overrides defined in your admin settings.\n"
    "        var config = OktaUtil.getSignInWidgetConfig();\n"
    "\n"
    "        // Render the Okta Sign-In Widget\n"
    "        var oktaSignIn = new OktaSignIn(config);\n"
    "        oktaSignIn.renderEl({ el: '#okta-login-container' },\n"
    "            OktaUtil.completeLogin,\n"
    "            function(error) {\n"
    "                // Logs errors that occur when configuring the widget.\n"
    "                // Remove or replace this with your own custom error handler.\n"
    "                console.log(error.message, error);\n"
    "            }\n"
    "        );\n"
    "    </script>\n"
    "</body>\n"
    "</html>\n"
)

DEFAULT_WIDGET_CUSTOMIZATIONS: dict[str, str | bool | dict[str, str]] = {
    "signInLabel": "Sign In",
    "usernameLabel": "Username",
    "usernameInfoTip": "",
    "passwordLabel": "Password",
    "passwordInfoTip": "",
    "showPasswordVisibilityToggle": True,
    "showUserIdentifier": True,
    "forgotPasswordLabel": "Forgot password?",
    "forgotPasswordUrl": "",
    "unlockAccountLabel": "Unlock account?",
    "unlockAccountUrl": "",
    "helpLabel": "Help",
    "helpUrl": "",
    "customLink1Label": "",
    "customLink1Url": "",
    "customLink2Label": "",
    "customLink2Url": "",
    "authenticatorPageCustomLinkLabel": "",
    "authenticatorPageCustomLinkUrl": "",
    "classicRecoveryFlowEmailOrUsernameLabel": "Email or Username",
    "widgetGeneration": "G2",
    "postAuthKeepMeSignedInPrompt": {
        "title": "Keep me signed in",
        "subtitle": "Sign in and enter security methods less frequently.",
        "acceptButtonText": "Stay signed in",
        "rejectButtonText": "Don't stay signed in",
    },
}

DEFAULT_WIDGET_VERSION = "^7"
