/** Sign-in: paste a token once; it becomes the session cookie. Says where a token comes from, and why a session ended. */
import { Layout, Notice } from "../components";

export function SignInPage({ error, next, ended }: { error?: string; next: string; ended?: string }) {
  return (
    <Layout title="Sign in" page={null}>
      <h1>Sign in</h1>
      {ended && <Notice kind="bad">{`Your session ended: ${ended}. Sign in again with a new token.`}</Notice>}
      <p>
        Paste a registry token (the same bearer token the CLI and API take; an <code>hf_</code>-prefixed one works too).
        It is kept in an HttpOnly cookie until it expires; the page never shows it again.
      </p>
      <details open>
        <summary>Where do I get a token?</summary>
        <ul>
          <li>
            From your registry's admin, who mints one the registry can revoke:{" "}
            <code>mreg token create --sub you --scope 'read promote'</code>.
          </li>
          <li>
            On a local development registry (<code>npm start</code>), from the development helper in the checkout:{" "}
            <code>npx mreg token --sub you --scope admin</code> (signed with the local development secret; it lasts 24
            hours).
          </li>
        </ul>
      </details>
      {error && <Notice kind="bad">{error}</Notice>}
      <form method="post" action="/sign-in">
        <input type="hidden" name="next" value={next} />
        <label>
          Token
          <textarea name="token" rows={4} cols={80} required autocomplete="off" spellcheck={false} />
        </label>
        <p>
          <button type="submit" class="primary">
            Sign in
          </button>
        </p>
      </form>
    </Layout>
  );
}
