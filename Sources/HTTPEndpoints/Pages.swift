import Mustache

/// The PSU pages, server-rendered with Mustache, no JavaScript. Every value is escaped per Unicode scalar by
/// `HTMLText` before rendering (`Endpoints.page`) and inserted with `{{{ }}}`: never use `{{ }}` here.
enum Pages {
    static let layoutHead = """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{{title}}}</title>
        <style>
        body{font-family:system-ui,sans-serif;background:#f4f6f8;margin:0;color:#1d2733}
        main{max-width:28rem;margin:4rem auto;background:#fff;padding:2rem;border-radius:.5rem;box-shadow:0 1px 4px #0002}
        h1{font-size:1.3rem;margin-top:0}label{display:block;margin:.8rem 0 .2rem}
        input{width:100%;padding:.5rem;box-sizing:border-box;font-size:1rem}
        button{margin-top:1.2rem;padding:.6rem 1.2rem;font-size:1rem;border-radius:.3rem;border:1px solid #345}
        .primary{background:#1f4e79;color:#fff}.error{color:#a40000;background:#fde8e8;padding:.6rem;border-radius:.3rem}
        ul{padding-left:1.2rem}.who{color:#556}
        </style></head><body><main>
        """
    static let layoutTail = "</main></body></html>"

    static let login = try! MustacheTemplate(
        string: layoutHead + """
            <h1>Sign in to your bank</h1>
            <p class="who">{{{clientName}}} asks for access to your accounts.</p>
            {{#error}}<p class="error" role="alert">{{{error}}}</p>{{/error}}
            <form method="post" action="/authorize/login">
            <input type="hidden" name="interaction" value="{{{interaction}}}">
            <input type="hidden" name="csrf" value="{{{csrf}}}">
            <label for="username">Username</label><input id="username" name="username" autocomplete="username" required value="{{{username}}}">
            <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
            <button class="primary" type="submit">Sign in</button>
            </form>
            """ + layoutTail)

    static let consent = try! MustacheTemplate(
        string: layoutHead + """
            <h1>Allow {{{clientName}}}?</h1>
            <p class="who">{{#organisation}}{{{organisation}}} &middot; {{/organisation}}signed in as {{{username}}}</p>
            <p>{{{clientName}}} will be able to:</p>
            <ul>{{#permissions}}<li>{{{.}}}</li>{{/permissions}}</ul>
            {{#hasDetails}}<p>You are asked to agree to:</p>
            <ul class="details">{{#details}}<li>{{{.}}}</li>{{/details}}</ul>{{/hasDetails}}
            {{#update}}<p class="who">{{{update}}}</p>{{/update}}
            <form method="post" action="/authorize/consent">
            <input type="hidden" name="interaction" value="{{{interaction}}}">
            <input type="hidden" name="csrf" value="{{{csrf}}}">
            {{#detailsHash}}<input type="hidden" name="details_hash" value="{{{detailsHash}}}">{{/detailsHash}}
            <button class="primary" type="submit" name="decision" value="approve">Approve</button>
            <button type="submit" name="decision" value="deny">Deny</button>
            </form>
            """ + layoutTail)

    /// OAuth 2.0 Form Post Response Mode, without JavaScript: the PSU presses Continue.
    static let formPost = try! MustacheTemplate(
        string: layoutHead + """
            <h1>Returning you to the app</h1>
            <form method="post" action="{{{action}}}">
            {{#fields}}<input type="hidden" name="{{{name}}}" value="{{{value}}}">{{/fields}}
            <button class="primary" type="submit">Continue</button>
            </form>
            """ + layoutTail)

    static let error = try! MustacheTemplate(
        string: layoutHead + """
            <h1>This request cannot go on</h1>
            <p class="error" role="alert">{{{message}}}</p>
            {{#code}}<p>Error code for the app's developers: <code class="oauth-error">{{{code}}}</code></p>{{/code}}
            <p>Please return to the app you came from and try again.</p>
            """ + layoutTail)

    /// Scopes in plain words for the consent page.
    static func permission(_ scope: String) -> String? {
        switch scope {
        case "openid": nil
        case "accounts": "see your account details, balances and transactions"
        case "payments": "make payments from your accounts, each with your approval"
        case "fundsconfirmations": "check whether funds are available in your account"
        default: "use the \(scope) permission"
        }
    }
}
