import Mustache

/// The customer's consent dashboard (`/account/consents`). As every page: values escaped by `HTMLText` and
/// inserted with `{{{ }}}`.
extension Pages {
    static let accountSignIn = try! MustacheTemplate(
        string: layoutHead + """
            <h1>Your consents</h1>
            <p class="who">Sign in to see the apps you have given access to, and withdraw it.</p>
            {{#error}}<p class="error" role="alert">{{{error}}}</p>{{/error}}
            <form method="post" action="/account/consents/login">
            <input type="hidden" name="csrf" value="{{{csrf}}}">
            <label for="username">Username</label><input id="username" name="username" autocomplete="username" required value="{{{username}}}">
            <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
            <button class="primary" type="submit">Sign in</button>
            </form>
            """ + layoutTail)

    static let accountConsents = try! MustacheTemplate(
        string: layoutHead + """
            <h1>Your consents</h1>
            <p class="who">Signed in as {{{username}}}</p>
            {{#notice}}<p class="error" role="alert">{{{notice}}}</p>{{/notice}}
            {{#none}}<p>You have not given any app access.</p>{{/none}}
            {{#consents}}<section class="consent" data-consent="{{{id}}}">
            <h2>{{{clientName}}}</h2>
            <p class="status">{{{status}}}</p>
            <ul>{{#lines}}<li>{{{.}}}</li>{{/lines}}</ul>
            <p class="who">Given {{{created}}}{{#authorised}} &middot; approved {{{authorised}}}{{/authorised}} &middot; until {{{expires}}}</p>
            {{#withdrawable}}<form method="post" action="/account/consents/withdraw">
            <input type="hidden" name="csrf" value="{{{csrf}}}">
            <input type="hidden" name="consent" value="{{{id}}}">
            <button type="submit">Withdraw</button>
            </form>{{/withdrawable}}
            </section>{{/consents}}
            """ + layoutTail)
}
