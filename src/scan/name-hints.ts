/**
 * Column-name hints for the PII classifier.
 *
 * An identifier is split into lower-case word tokens (snake_case, camelCase,
 * letter/digit boundaries, any punctuation), plural tokens are singularised,
 * and a token glued from known words ("emailaddress", "dateofbirth") is
 * segmented with a small vocabulary. Hints then match whole tokens or token
 * sequences, never substrings, so `description`/`shipping` do not contain `ip`
 * and `zipper` is not `zip`.
 *
 * A name gives three kinds of evidence:
 *  - positive: "this column holds class X", with a strength that is also the
 *    confidence of a finding made from the name alone (no sampled values);
 *  - qualified: the name is *about* X but does not hold X (`email_verified`,
 *    `phone_count`, `card_last4`, `password_changed_at`);
 *  - contrary: the name says identifiers / versions / event times / digests /
 *    non-person names, which makes weak value shapes less believable.
 */
import type { PiiClass } from './types.js';

/** Splits an identifier into lower-case tokens: `customerEmail2` → customer, email, 2. */
export function splitIdentifier(identifier: string): string[] {
  const spaced = identifier
    .slice(0, 256)
    .replace(/(\p{Ll})(\p{Lu})/gu, '$1 $2')
    .replace(/(\p{Lu}+)(\p{Lu}\p{Ll})/gu, '$1 $2')
    .replace(/(\p{L})(\p{N})/gu, '$1 $2')
    .replace(/(\p{N})(\p{L})/gu, '$1 $2');
  return spaced
    .toLowerCase()
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .split(/[^\p{L}\p{N}]+/u)
    .filter((t) => t.length > 0);
}

interface HintRule {
  readonly phrase: readonly string[];
  readonly cls: PiiClass;
  readonly strength: number;
}

function rules(cls: PiiClass, strength: number, ...phrases: string[]): HintRule[] {
  return phrases.map((p) => ({ phrase: p.split(' '), cls, strength }));
}

/**
 * Strength ≥ 0.5 means "unambiguous": a name-only finding counts as sensitive.
 * Person names are handled separately (see personNameHint) because `name`
 * needs its neighbours to decide.
 */
const RULES: readonly HintRule[] = [
  ...rules('email', 0.6, 'email', 'e mail', 'courriel', 'correo', 'emailaddress'),
  ...rules('email', 0.45, 'mail'),
  ...rules('phone', 0.6, 'phone', 'telephone', 'msisdn', 'telefon', 'telefono', 'telefone', 'telefoon', 'phone number', 'contact number', 'sms number'),
  // `sms_number`, `sms_to`: where text messages go is a phone number.
  ...rules('phone', 0.55, 'tel', 'fax', 'sms', 'mobile number', 'cell number', 'whatsapp', 'celular', 'cellulare', 'movil', 'landline', 'rufnummer'),
  ...rules('phone', 0.45, 'mobile', 'cellphone', 'cell phone', 'handy', 'mobil'),
  ...rules('phone', 0.4, 'cell'),
  ...rules('ssn', 0.65, 'ssn', 'social security', 'itin', 'social security number'),
  // National-id style names: only believed when the values are well-formed, well-spread SSNs.
  ...rules('ssn', 0.45, 'national id', 'tax id', 'national identifier', 'id number', 'id no', 'id num', 'gov id', 'government id', 'identity number', 'tin'),
  ...rules('card', 0.65, 'card number', 'card num', 'card no', 'credit card', 'debit card', 'cc number', 'cc num', 'cc no', 'ccn', 'pan number', 'creditcard', 'cardnumber'),
  ...rules('card', 0.4, 'pan'),
  ...rules('card', 0.35, 'card'),
  ...rules('card', 0.3, 'cc'),
  ...rules('iban', 0.65, 'iban'),
  ...rules('iban', 0.4, 'bank account', 'bank account number'),
  ...rules('ip_address', 0.55, 'ip', 'ipv', 'ip address', 'ip addr', 'remote addr', 'remote address', 'client addr', 'peer addr', 'inet'),
  ...rules('dob', 0.65, 'dob', 'birth', 'birthday', 'birthdate', 'bday', 'date of birth', 'geburtsdatum', 'geburtstag', 'nacimiento', 'naissance', 'nascita'),
  ...rules('dob', 0.45, 'born'),
  ...rules('postal_code', 0.45, 'zip', 'zipcode', 'zip code', 'postal', 'postcode', 'post code', 'postal code', 'plz', 'postleitzahl', 'pincode'),
  ...rules('secret', 0.7, 'password', 'passwd', 'passphrase', 'passwort', 'kennwort', 'contrasena', 'api key', 'apikey', 'private key', 'secret key', 'signing key', 'encryption key', 'client secret', 'access key', 'access token', 'refresh token', 'auth token', 'bearer token', 'session token'),
  ...rules('secret', 0.65, 'pwd', 'secret', 'credential', 'totp secret', 'mfa secret', 'otp secret', 'totp seed', 'otp seed', 'mfa seed', 'totp key', 'otp key', 'mfa key'),
  // Second-factor material: recovery/backup codes log in in place of the second factor.
  ...rules('secret', 0.65, 'recovery code', 'backup code', 'recovery key', 'scratch code', 'otp code', 'mfa code', '2fa code', 'seed phrase', 'mnemonic'),
  ...rules('secret', 0.6, 'token', 'session key', 'session secret', 'totp', 'hotp'),
  ...rules('secret', 0.5, 'otp'),
  // Weak: need random-looking values (a session_id is often a plain foreign key; `mfa` often names a method).
  ...rules('secret', 0.45, 'pass', 'pin', 'session id', 'session', 'mfa', '2fa', 'two factor'),
];

/**
 * Tokens that turn "X" into "something about X" for every class except the
 * listed ones (for which the token is part of the thing: `birth_date`, `zip_code`).
 */
const QUALIFIERS: ReadonlyMap<string, readonly PiiClass[]> = new Map<string, readonly PiiClass[]>([
  ...[
    'is', 'has', 'count', 'cnt', 'total', 'enabled', 'disabled', 'verified', 'verification', 'confirmed',
    'validated', 'valid', 'status', 'type', 'kind', 'template', 'format', 'length', 'len', 'opt', 'optin',
    'optout', 'sent', 'flag', 'pref', 'preference', 'policy', 'strength', 'score', 'provider', 'domain', 'prefix',
    'suffix', 'mask', 'masked', 'last4', 'four', 'digits', 'brand', 'bin', 'expiry', 'exp', 'expires',
    'expiration', 'expire', 'expired', 'updated', 'changed', 'created', 'modified', 'attempt', 'failure', 'failed',
    'retry', 'retries', 'required', 'visible', 'hidden', 'hint', 'salt', 'rotated', 'version',
    'algo', 'algorithm', 'scheme', 'method', 'id', 'uuid', 'guid', 'ref', 'country', 'area', 'ext',
    'extension', 'label', 'issuer', 'network', 'limit', 'quota', 'usage', 'used', 'allowed',
    'reset', 'lock', 'locked', 'history', 'age', 'place', 'city', 'location', 'month', 'year', 'range',
    'filter', 'regex', 'pattern', 'hash', 'fingerprint', 'index', 'list', 'settings', 'setting', 'config',
    'name', 'question',
  ].map((t): [string, readonly PiiClass[]] => [t, []]),
  // `date` `time` `at` `on` describe when something happened: not the thing, except for a birth date.
  ['date', ['dob']],
  ['time', ['dob']],
  ['at', ['dob']],
  ['on', ['dob']],
  ['ts', ['dob']],
  // `code`: phone_code / country_code are not phones, but a zip code is a postal code.
  ['code', ['postal_code']],
]);

/** Qualifiers of one class only: a public key is no secret, but a public email is an email. */
const CLASS_QUALIFIERS: ReadonlyMap<string, PiiClass> = new Map<string, PiiClass>([
  ['public', 'secret'],
  ['pub', 'secret'],
  ['holder', 'card'],
  ['cvv', 'card'],
]);

/** Whether `token` makes a `cls` name "about X" rather than X. */
function qualifies(token: string, cls: PiiClass): boolean {
  if (CLASS_QUALIFIERS.get(token) === cls) return true;
  const except = QUALIFIERS.get(token);
  if (except === undefined) return false;
  if (except.includes(cls)) return false;
  // A password hash is still a secret (a crackable one); a reset token is a live one.
  if (cls === 'secret' && (token === 'hash' || token === 'reset')) return false;
  // `name` is the person-name hint itself (personNameHint decides on it).
  if (cls === 'person_name' && token === 'name') return false;
  return true;
}

/**
 * Names that say "this is an identifier or code": weak value shapes there are probably
 * not PII. Strong ones name a business object (`order_no`, `invoice_ref`, `sku`); weak
 * ones only say "some id" (`ref`, `code`, `number`) and leave room for a strong value signal.
 */
const IDENTIFIER_STRONG = new Set([
  'order', 'invoice', 'sku', 'tracking', 'serial', 'version', 'seq', 'sequence', 'batch', 'lot', 'ticket', 'case',
  'confirmation', 'booking', 'reservation', 'receipt', 'transaction', 'txn', 'shipment', 'parcel', 'part', 'model',
  'product', 'item', 'catalog', 'barcode', 'ean', 'upc', 'isbn', 'asin', 'gtin', 'hash', 'checksum', 'digest',
  'etag', 'sha', 'md', 'crc', 'fingerprint', 'revision', 'rev', 'commit', 'slug', 'nonce', 'cursor', 'request',
  'trace', 'span', 'correlation', 'policy', 'claim', 'contract', 'voucher', 'coupon', 'promo', 'license', 'licence',
  'po', 'so', 'job', 'shipping', 'delivery', 'payment', 'refund', 'return', 'rma', 'build', 'release',
]);
const IDENTIFIER_WEAK = new Set(['id', 'uid', 'guid', 'uuid', 'code', 'no', 'num', 'number', 'nr', 'ref', 'reference', 'acct', 'key', 'identifier', 'handle', 'ext']);
const IDENTIFIER_TOKENS = new Set([...IDENTIFIER_STRONG, ...IDENTIFIER_WEAK]);

const VERSION_TOKENS = new Set(['version', 'ver', 'release', 'build', 'firmware', 'fw', 'semver', 'revision', 'rev', 'sw', 'software', 'schema', 'api', 'oid']);

const EVENT_TIME_TOKENS = new Set([
  'created', 'updated', 'modified', 'deleted', 'at', 'ts', 'timestamp', 'time', 'start', 'started', 'end', 'ended',
  'expires', 'expiry', 'expiration', 'due', 'shipped', 'paid', 'event', 'logged', 'last', 'since', 'valid',
  'effective', 'hire', 'hired', 'joined', 'signup', 'registered', 'registration', 'published', 'released', 'opened',
  'closed', 'issued', 'scheduled', 'occurred', 'received', 'sent', 'login', 'seen', 'completed', 'finished',
  'archived', 'posted', 'order', 'purchase', 'purchased', 'delivery', 'delivered', 'booking', 'booked', 'checkin',
  'checkout', 'arrival', 'departure', 'period', 'until', 'from', 'to', 'submitted', 'approved', 'cancelled',
  'canceled', 'renewal', 'renewed', 'billing', 'invoice', 'transaction', 'payment', 'founded', 'established',
  'incorporated', 'opened', 'built', 'manufactured', 'release', 'launch', 'launched', 'visit', 'visited',
  'appointment', 'admission', 'admitted', 'discharge', 'discharged', 'death', 'died', 'deceased', 'marriage',
  'married', 'graduation', 'graduated', 'enrolled', 'enrollment', 'termination', 'terminated', 'inserted',
  'imported', 'synced', 'processed', 'fetched', 'run', 'job', 'batch',
]);

const DIGEST_TOKENS = new Set([
  'hash', 'hashed', 'checksum', 'digest', 'etag', 'sha', 'md', 'crc', 'fingerprint', 'signature', 'integrity', 'content',
  'file', 'blob', 'object', 'commit', 'revision', 'nonce', 'salt', 'cursor', 'cache', 'dedup', 'dedupe', 'sri', 'hmac',
]);

/**
 * Words saying the column holds a one-way digest *of* what the name mentions
 * (`token_sha256`, `hashed_api_key`, `password_digest`).
 *
 * Judgement: a digest of a password, passphrase or PIN stays a secret — people
 * choose those, so the hash is crackable offline (and bcrypt/argon2 formats are
 * caught by their values anyway). A digest of a token, key or generated secret is
 * not: it is stored precisely so that the credential itself is not, and a
 * 128+-bit random input cannot be recovered from its hash.
 */
const DIGEST_OF_TOKENS = new Set(['hash', 'hashed', 'sha', 'digest', 'checksum', 'hmac', 'md', 'crc']);
const HUMAN_CHOSEN_SECRETS = new Set(['password', 'passwd', 'passphrase', 'passwort', 'kennwort', 'contrasena', 'pwd', 'pass', 'pin', 'passcode']);

/** Names of network ranges (`allowed_cidr`, `subnet`, `ip_range`): a range names no one. */
const NETWORK_TOKENS = new Set(['cidr', 'subnet', 'netmask', 'network', 'net', 'range', 'block', 'prefix', 'allowlist', 'whitelist', 'blocklist', 'blacklist', 'denylist', 'vpc', 'route', 'mask', 'supernet']);

/** Names that place a value in a postal address (`shipping_code`, `address_pc`, `location`). */
const ADDRESS_TOKENS = new Set(['address', 'addr', 'location', 'shipping', 'billing', 'mailing', 'delivery', 'residence', 'home', 'street', 'city', 'town', 'locality', 'adresse', 'direccion', 'indirizzo']);

/** X_name where X is a person role: a person's name. */
const PERSON_OWNERS = new Set([
  'customer', 'client', 'contact', 'patient', 'employee', 'emp', 'person', 'member', 'owner', 'holder',
  'cardholder', 'recipient', 'sender', 'beneficiary', 'author', 'guest', 'passenger', 'student', 'teacher',
  'emergency', 'spouse', 'partner', 'parent', 'mother', 'father', 'guardian', 'doctor', 'physician', 'nurse',
  'manager', 'applicant', 'candidate', 'buyer', 'seller', 'driver', 'landlord', 'insured', 'subscriber',
  'billing', 'shipping', 'signer', 'signatory', 'witness', 'agent', 'representative', 'rep', 'staff', 'cust',
  'attendee', 'participant', 'donor', 'volunteer', 'visitor', 'caller', 'referrer', 'instructor', 'coach',
  'player', 'athlete', 'creator', 'reviewer', 'assignee', 'reporter', 'approver', 'requester', 'employer',
  'child', 'kid', 'next', 'kin', 'supervisor', 'contractor', 'consultant', 'therapist', 'dentist', 'lawyer',
  'attorney', 'tenant', 'resident', 'user', 'account', 'legal', 'real', 'preferred', 'birth', 'maiden', 'display',
]);

/** The leading token of a `first_name`-style phrase. */
const PERSON_NAME_PARTS = new Set(['first', 'last', 'full', 'middle', 'given', 'family', 'maiden', 'sur', 'fore', 'christian', 'second', 'nick', 'legal', 'real', 'preferred', 'birth']);

/** Whole tokens that are a person's name by themselves. */
const PERSON_NAME_TOKENS = new Map<string, number>([
  ['surname', 0.6], ['forename', 0.6], ['fname', 0.55], ['lname', 0.55], ['firstname', 0.6], ['lastname', 0.6],
  ['fullname', 0.6], ['middlename', 0.55], ['givenname', 0.6], ['familyname', 0.6], ['nombre', 0.5],
  ['apellido', 0.6], ['vorname', 0.6], ['nachname', 0.6], ['prenom', 0.6], ['cognome', 0.6], ['nom', 0.4],
  // Role nouns on their own often hold an id; as weak hints they need name-like values.
  ...['author', 'assignee', 'recipient', 'person', 'customer', 'client', 'patient', 'employee', 'owner', 'holder', 'sender',
    'contact', 'member', 'guest', 'passenger', 'student', 'applicant', 'beneficiary', 'signer', 'reporter', 'driver', 'buyer',
    'seller', 'tenant', 'insured', 'donor', 'attendee', 'participant', 'cardholder', 'doctor', 'physician', 'provider',
    'practitioner', 'clinician', 'nurse', 'dentist', 'therapist', 'surgeon'].map((t): [string, number] => [t, 0.3]),
]);

/** X_name where X is a thing: not a person. `username`/`user_name` is a login handle, not a name. */
const NON_PERSON = new Set([
  'table', 'column', 'field', 'file', 'host', 'product', 'item', 'company', 'org', 'organization',
  'organisation', 'business', 'brand', 'domain', 'server', 'db', 'database', 'schema', 'app', 'application',
  'package', 'project', 'category', 'tag', 'street', 'city', 'town', 'country', 'state', 'region', 'province',
  'county', 'bank', 'branch', 'store', 'shop', 'event', 'feature', 'role', 'group', 'team', 'queue', 'job',
  'type', 'class', 'module', 'service', 'plan', 'tier', 'device', 'model', 'image', 'attachment', 'document',
  'template', 'index', 'constraint', 'sequence', 'function', 'page', 'site', 'channel', 'topic', 'campaign',
  'course', 'program', 'venue', 'location', 'place', 'building', 'room', 'department', 'dept', 'vendor',
  'supplier', 'merchant', 'login', 'screen', 'ship', 'key', 'bucket', 'container', 'cluster', 'node',
  'instance', 'env', 'environment', 'zone', 'metric', 'label', 'stage', 'status', 'step', 'task', 'workflow',
  'pipeline', 'repo', 'repository', 'view', 'report', 'dashboard', 'widget', 'asset', 'game', 'league',
  'species', 'breed', 'pet', 'color', 'colour', 'size', 'unit', 'currency', 'language', 'locale', 'timezone',
  'font', 'theme', 'icon', 'sku', 'variant', 'option', 'attribute', 'property', 'setting', 'param',
  'parameter', 'variable', 'var', 'method', 'action', 'command', 'script', 'test', 'suite', 'release',
  'version', 'tenant', 'workspace', 'folder', 'directory', 'dir', 'path', 'bucket', 'cookie', 'header',
  'metric', 'measure', 'dimension', 'entity', 'resource', 'object', 'collection', 'list', 'menu', 'section',
  'chapter', 'book', 'song', 'album', 'movie', 'film', 'show', 'episode', 'track', 'playlist', 'artist_group',
  'vessel', 'vehicle', 'network', 'ssid', 'printer', 'queue', 'topic', 'stream', 'partition', 'region',
  'airport', 'station', 'route', 'lane', 'road', 'hotel', 'restaurant', 'school', 'university', 'hospital',
  'clinic', 'pharmacy', 'drug', 'medication', 'diagnosis', 'procedure', 'insurance', 'carrier', 'plan',
  'account_type', 'user', 'nick', 'screen', 'code', 'short', 'long', 'internal', 'external',
  // Not here: `provider` and `payer` name a doctor or a person as often as an organisation; the values decide.
]);

const PERSON_TABLES = new Set([
  'user', 'customer', 'client', 'contact', 'patient', 'employee', 'people', 'person', 'member', 'student',
  'author', 'staff', 'applicant', 'guest', 'passenger', 'driver', 'doctor', 'teacher', 'subscriber',
  'profile', 'candidate', 'beneficiary', 'recipient', 'donor', 'volunteer', 'physician', 'nurse', 'emp',
  'individual', 'citizen', 'voter', 'resident', 'tenant', 'buyer', 'seller', 'lead', 'prospect', 'attendee',
  'participant', 'player', 'athlete', 'account', 'owner', 'signup', 'registration', 'hr', 'personnel', 'worker',
]);

const FREE_TEXT_TOKENS = new Set([
  'note', 'notes', 'comment', 'comments', 'description', 'desc', 'message', 'msg', 'bio', 'body', 'remark',
  'remarks', 'memo', 'text', 'content', 'feedback', 'summary', 'detail', 'details', 'narrative', 'annotation',
  'observation', 'reason', 'transcript', 'chat', 'reply', 'review', 'complaint', 'instruction', 'instructions',
  'about', 'story', 'payload', 'log', 'raw', 'freeform', 'free',
]);

/** Plural forms whose singular is a known word (`emails`, `addresses`, `credentials`). */
const VOCAB: ReadonlySet<string> = buildVocabulary();

function buildVocabulary(): Set<string> {
  const vocab = new Set<string>();
  for (const r of RULES) for (const t of r.phrase) vocab.add(t);
  for (const set of [IDENTIFIER_TOKENS, VERSION_TOKENS, EVENT_TIME_TOKENS, DIGEST_TOKENS, PERSON_OWNERS, PERSON_NAME_PARTS, NON_PERSON, PERSON_TABLES, FREE_TEXT_TOKENS, NETWORK_TOKENS, ADDRESS_TOKENS, HUMAN_CHOSEN_SECRETS]) {
    for (const t of set) vocab.add(t);
  }
  for (const t of QUALIFIERS.keys()) vocab.add(t);
  for (const t of PERSON_NAME_TOKENS.keys()) vocab.add(t);
  for (const t of ['name', 'address', 'addr', 'of', 'primary', 'secondary', 'work', 'home', 'personal', 'alt', 'main', 'other', 'hashed', 'encrypted', 'plain', 'raw', 'old', 'new', 'current', 'previous', 'temp', 'backup', 'recovery', 'verify', 'social', 'security', 'credit', 'debit', 'bank', 'remote', 'client', 'peer', 'private', 'signing', 'encryption', 'access', 'refresh', 'auth', 'bearer', 'session', 'date', 'day']) {
    vocab.add(t);
  }
  return vocab;
}

/** Pieces a glued token may be segmented into: at least 3 letters, plus a few safe short words. */
const SHORT_SEGMENTS = new Set(['ip', 'cc', 'id', 'no', 'of', 'tel', 'dob', 'ssn', 'pin', 'pwd', 'zip', 'plz']);

function singular(token: string): string {
  if (VOCAB.has(token)) return token;
  if (token.length > 4 && token.endsWith('es') && VOCAB.has(token.slice(0, -2))) return token.slice(0, -2);
  if (token.length > 2 && token.endsWith('s') && VOCAB.has(token.slice(0, -1))) return token.slice(0, -1);
  return token;
}

/**
 * Splits a glued token into vocabulary words ("dateofbirth" → date, of, birth)
 * when, and only when, the whole token is covered; fewest pieces wins.
 * Tokens that cannot be covered (`zipper`, `description`, `headphone`) stay whole.
 */
function segment(token: string): string[] {
  if (VOCAB.has(token) || token.length < 5 || token.length > 40) return [token];
  const n = token.length;
  const best: (string[] | null)[] = new Array<string[] | null>(n + 1).fill(null);
  best[0] = [];
  for (let i = 0; i < n; i++) {
    const prefix = best[i];
    if (prefix === null) continue;
    for (let j = i + 2; j <= n && j - i <= 16; j++) {
      const piece = singular(token.slice(i, j));
      if (!VOCAB.has(piece) || (piece.length < 3 && !SHORT_SEGMENTS.has(piece))) continue;
      const candidate = [...prefix, piece];
      const current = best[j];
      if (current === null || candidate.length < current.length) best[j] = candidate;
    }
  }
  const result = best[n];
  return result !== null && result.length >= 2 ? result : [token];
}

/** Tokens of an identifier after singularising and segmenting glued words. */
export function nameTokens(identifier: string): string[] {
  const out: string[] = [];
  for (const raw of splitIdentifier(identifier)) {
    // `last4` splits into last, 4: keep it one token, it means "the last four digits".
    if ((raw === '4' || raw === 'four') && out[out.length - 1] === 'last') {
      out[out.length - 1] = 'last4';
      continue;
    }
    // `2fa`/`twoFA` split into 2, fa: one token, "second factor".
    if (raw === 'fa' && (out[out.length - 1] === '2' || out[out.length - 1] === 'two')) {
      out[out.length - 1] = '2fa';
      continue;
    }
    for (const t of segment(singular(raw))) out.push(singular(t));
  }
  return out;
}

export interface NameHints {
  readonly tokens: readonly string[];
  /** Classes the name says the column holds, with the confidence of a name-only finding. */
  readonly positive: ReadonlyMap<PiiClass, number>;
  /** Classes the name mentions but qualifies (`email_verified`): about X, not X. */
  readonly qualified: ReadonlyMap<PiiClass, number>;
  /** Identifier / code names (`order_no`, `sku`, `ref`): weak value shapes are less believable. */
  readonly identifierLike: boolean;
  /** How strongly: 1 for a business-object name (`order_no`, `invoice_ref`), 0.65 for a generic one (`ref`, `code`), 0 for none. */
  readonly contrary: number;
  /** Version / release / build names: dotted quads are versions, not IP addresses. */
  readonly versionLike: boolean;
  /** Event-time names (`created_at`, `shipped_on`): dates are not dates of birth. */
  readonly eventTime: boolean;
  /** Digest names (`checksum`, `etag`, `sha256`, `token_hash`): hex strings are content hashes, not secrets. */
  readonly digestLike: boolean;
  /** Network-range names (`allowed_cidr`, `subnet`): addresses with prefixes are networks, not people's. */
  readonly networkLike: boolean;
  /** Names that place the value in a postal address (`shipping_code`, `address_pc`). */
  readonly addressLike: boolean;
  /** `product_name`, `table_name`, `username`: names of things, not people. */
  readonly nonPersonName: boolean;
  /** `notes`, `comment`, `description`: free text. */
  readonly freeText: boolean;
}

function matchAt(tokens: readonly string[], i: number, phrase: readonly string[]): boolean {
  if (i + phrase.length > tokens.length) return false;
  for (let k = 0; k < phrase.length; k++) if (tokens[i + k] !== phrase[k]) return false;
  return true;
}

/** Strength of a person-name hint from `name` and its neighbours, or the table's name for a bare `name`. */
function personNameHint(tokens: readonly string[], tableTokens: readonly string[]): { strength: number; nonPerson: boolean; used: Set<number> } {
  let strength = 0;
  let nonPerson = false;
  const used = new Set<number>();
  tokens.forEach((t, i) => {
    const whole = PERSON_NAME_TOKENS.get(t);
    // A weak role noun counts only as the column's last word (`primary_contact`, not `membership`).
    if (whole !== undefined && (whole >= 0.5 || i === tokens.length - 1)) {
      strength = Math.max(strength, whole);
      used.add(i);
      return;
    }
    if (t !== 'name') return;
    const prev = i > 0 ? tokens[i - 1] : undefined;
    let s: number;
    if (prev === undefined || (i === 1 && (prev === 'display' || prev === 'full'))) {
      // A bare `name`: the table says whose name it is.
      if (tableTokens.some((x) => PERSON_TABLES.has(x))) s = 0.5;
      else if (tableTokens.some((x) => NON_PERSON.has(x) || IDENTIFIER_TOKENS.has(x))) s = 0;
      else s = 0.35;
      if (prev === 'full') s = Math.max(s, 0.6);
    } else if (PERSON_NAME_PARTS.has(prev)) {
      s = 0.6;
    } else if (prev === 'display' || prev === 'account' || prev === 'user') {
      // display_name / account_name / user_name: often a real name, often a handle or a company.
      s = prev === 'user' ? 0 : 0.35;
      if (prev === 'user') nonPerson = true;
    } else if (PERSON_OWNERS.has(prev)) {
      s = 0.55;
    } else if (NON_PERSON.has(prev) || IDENTIFIER_TOKENS.has(prev)) {
      s = 0;
      nonPerson = true;
    } else {
      s = 0.3;
    }
    if (s > 0) {
      used.add(i);
      if (prev !== undefined) used.add(i - 1);
    }
    strength = Math.max(strength, s);
  });
  if (tokens.includes('username') || tokens.includes('hostname') || tokens.includes('filename') || tokens.includes('nickname')) nonPerson = true;
  return { strength, nonPerson, used };
}

/**
 * Whether the name says "a digest of a generated secret" (`token_sha256`,
 * `hashed_api_key`): the secret word nearest to the digest word is not one a
 * person chooses (see DIGEST_OF_TOKENS for the judgement).
 */
function digestOfGeneratedSecret(tokens: readonly string[], matches: readonly { start: number; end: number; phrase: readonly string[] }[]): boolean {
  if (matches.length === 0) return false;
  let nearest: (typeof matches)[number] | undefined;
  let best = Infinity;
  tokens.forEach((t, d) => {
    if (!DIGEST_OF_TOKENS.has(t)) return;
    for (const m of matches) {
      if (d >= m.start && d <= m.end) continue;
      const dist = d < m.start ? m.start - d : d - m.end;
      if (dist < best) {
        best = dist;
        nearest = m;
      }
    }
  });
  return nearest !== undefined && !nearest.phrase.some((t) => HUMAN_CHOSEN_SECRETS.has(t));
}

/**
 * Hints from a column name. `table` gives context to a bare `name` and to
 * `code` in an address table; pass '' when there is none.
 */
export function analyzeName(column: string, table = ''): NameHints {
  const tokens = nameTokens(column);
  const tableTokens = nameTokens(table);
  const found = new Map<PiiClass, { strength: number; used: Set<number> }>();
  const secretMatches: { start: number; end: number; phrase: readonly string[] }[] = [];
  for (let i = 0; i < tokens.length; i++) {
    for (const r of RULES) {
      if (!matchAt(tokens, i, r.phrase)) continue;
      if (r.cls === 'secret') secretMatches.push({ start: i, end: i + r.phrase.length - 1, phrase: r.phrase });
      const cur = found.get(r.cls);
      const used = new Set<number>(r.phrase.map((_, k) => i + k));
      if (cur === undefined || r.strength > cur.strength) found.set(r.cls, { strength: r.strength, used });
    }
  }
  const digestOfSecret = digestOfGeneratedSecret(tokens, secretMatches);
  // `code` in an address table (`addresses.code`) is a postal code.
  if (!found.has('postal_code') && tokens.length === 1 && tokens[0] === 'code' && tableTokens.some((t) => t === 'address' || t === 'addr' || t === 'location')) {
    found.set('postal_code', { strength: 0.4, used: new Set([tokens.indexOf('code')]) });
  }
  const person = personNameHint(tokens, tableTokens);
  if (person.strength > 0) found.set('person_name', { strength: person.strength, used: person.used });

  const positive = new Map<PiiClass, number>();
  const qualified = new Map<PiiClass, number>();
  for (const [cls, { strength, used }] of found) {
    const isQualified = tokens.some((t, i) => !used.has(i) && qualifies(t, cls)) || (cls === 'secret' && digestOfSecret);
    (isQualified ? qualified : positive).set(cls, strength);
  }
  // `ip_address` mentions `address`; `email_address` is an email, not a street address: nothing to do.
  // A secret name beats a digest name (`password_hash` is a secret), so digestLike needs no secret hint.
  const anyPositive = positive.size > 0;
  const contrary = anyPositive ? 0 : tokens.some((t) => IDENTIFIER_STRONG.has(t)) ? 1 : tokens.some((t) => IDENTIFIER_WEAK.has(t)) ? 0.65 : 0;
  return {
    tokens,
    positive,
    qualified,
    identifierLike: contrary > 0,
    contrary,
    versionLike: !positive.has('ip_address') && tokens.some((t) => VERSION_TOKENS.has(t)),
    eventTime: !positive.has('dob') && tokens.some((t) => EVENT_TIME_TOKENS.has(t)),
    digestLike: !positive.has('secret') && tokens.some((t) => DIGEST_TOKENS.has(t)),
    networkLike: !positive.has('ip_address') && tokens.some((t) => NETWORK_TOKENS.has(t)),
    addressLike: tokens.some((t) => ADDRESS_TOKENS.has(t)),
    nonPersonName: person.nonPerson || (person.strength === 0 && tokens.includes('name')),
    freeText: tokens.some((t) => FREE_TEXT_TOKENS.has(t)),
  };
}
