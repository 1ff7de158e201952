// Sign-in: the operator token is pasted once and sent once; the server answers with a session
// cookie (HttpOnly) and the page forgets the token (the field is cleared, nothing stored).
import type { JSX } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { signIn } from '../api.js';
import { ErrorLine, message } from '../ui.js';

export function SignInPage({ onSignedIn }: { onSignedIn: () => void }): JSX.Element {
  const input = useRef<HTMLInputElement>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: Event) => {
    e.preventDefault();
    const field = input.current!;
    const token = field.value.trim();
    if (!token) {
      setError('Paste an operator token: `waypoint-ctl server run` prints one when it starts.');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      await signIn(token);
      field.value = '';
      onSignedIn();
    } catch (err) {
      setError(message(err));
      setBusy(false);
      field.select();
    }
  };

  return (
    <main id="main" class="center signin">
      <form onSubmit={submit} class="card" autocomplete="off">
        <h1>waypoint console</h1>
        <label for="token">
          <span>Operator token</span>
          <input id="token" name="token" type="password" ref={input} autoFocus spellcheck={false} autocomplete="off" required />
        </label>
        <p class="hint">Sent once to start a session; the page keeps a cookie, never the token.</p>
        <ErrorLine error={error} />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
      </form>
    </main>
  );
}
