// Compiled (never run) by `tsc -p clients/js`: the declarations in src/index.d.ts must let a
// TypeScript caller write both sides, and must refuse what the wire refuses.
import {
  connect,
  mintToken,
  mintUrl,
  MintError,
  RefusedError,
  RenewError,
  type ClientCredential,
  type CloseInfo,
  type Session,
} from '@bouncer/client';

async function backend(apiKey: string): Promise<ClientCredential> {
  const token = await mintToken({
    baseUrl: 'https://bouncer.example.com',
    apiKey,
    expiresIn: 120,
    allowedModels: ['demo'],
    allowedOrigins: ['https://app.example.com'],
    constraints: { realtime: { maxSessionDuration: 600, maxConcurrentSessions: 2 } },
    metadata: { user: 'u_42' },
    maxUses: 1,
  });
  const kind: 'token' = token.kind;
  const url = await mintUrl({ baseUrl: 'https://bouncer.example.com', apiKey, model: 'demo' });
  const link: string = url.url;
  void kind;
  void link;
  return token;
}

async function frontend(credential: ClientCredential): Promise<CloseInfo> {
  const session: Session = connect(credential, {
    baseUrl: 'wss://bouncer.example.com',
    model: 'demo',
    protocols: ['realtime'],
    credentialIn: 'protocol',
    resume: true,
    reconnect: { maxAttempts: 3, baseDelayMs: 250, maxDelayMs: 5000 },
    getCredential: async ({ reason }) => (reason === 'renew' ? backend('sk_') : credential),
    onMessage: (data) => console.log(data),
    onRenewed: ({ deadline }) => console.log(deadline?.toISOString()),
    onError: (error) => {
      if (error instanceof RefusedError && error.permanent) console.log(error.reason, error.closeCode);
      if (error instanceof RenewError) console.log(error.reason);
      if (error instanceof MintError) console.log(error.status, error.retryAfterSeconds);
    },
  });
  await session.opened;
  session.send('hello');
  const deadline: Date | null = session.deadline;
  void deadline;
  await session.renew(await backend('sk_'));
  session.close(1000, 'done');
  return session.closed;
}

// The wire's refusals, as types.
// @ts-expect-error a token credential has no url
const wrongShape: ClientCredential = { kind: 'token', url: 'ws://x', expiresAt: '' };
// @ts-expect-error credentialIn is protocol or query
connect({ kind: 'url', url: 'ws://x', expiresAt: '' }, { credentialIn: 'header' });
// @ts-expect-error mintUrl needs a model
mintUrl({ baseUrl: 'https://b', apiKey: 'sk_' });

void wrongShape;
void frontend;
