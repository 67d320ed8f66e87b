/** Sign-in: paste a token once; it becomes the session cookie. */
import { Layout, Notice } from "../components";

export function SignInPage({ error, next }: { error?: string; next: string }) {
  return (
    <Layout title="Sign in" page={null}>
      <h1>Sign in</h1>
      <p>
        Paste a registry token (the same bearer token the CLI and API take). It is kept in an HttpOnly cookie until it
        expires; the page never shows it again.
      </p>
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
