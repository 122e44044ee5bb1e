/** A sample of Prometheus exposition text: the name, its labels and the value as written. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: string;
}

/** Parsed exposition text: samples in order, and the TYPE and HELP of each family. */
export interface Exposition {
  samples: Sample[];
  types: Map<string, string>;
  help: Map<string, string>;
}

/**
 * Parses the text format (0.0.4) strictly enough for contract tests: label
 * values are unescaped, so a test compares them with the original strings.
 */
export function parseExposition(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('# TYPE ')) {
      const [name, type] = line.slice(7).split(' ');
      types.set(name!, type!);
      continue;
    }
    if (line.startsWith('# HELP ')) {
      const rest = line.slice(7);
      const space = rest.indexOf(' ');
      help.set(rest.slice(0, space), rest.slice(space + 1));
      continue;
    }
    if (line.startsWith('#')) continue;
    samples.push(parseSample(line));
  }
  return { samples, types, help };
}

function parseSample(line: string): Sample {
  const brace = line.indexOf('{');
  const firstSpace = line.indexOf(' ');
  if (brace < 0 || brace > firstSpace) {
    return { name: line.slice(0, firstSpace), labels: {}, value: line.slice(firstSpace + 1).split(' ')[0]! };
  }
  const name = line.slice(0, brace);
  const labels: Record<string, string> = {};
  let i = brace + 1;
  while (line[i] !== '}') {
    const eq = line.indexOf('=', i);
    const key = line.slice(i, eq);
    i = eq + 2; // past ="
    let value = '';
    while (line[i] !== '"') {
      if (line[i] === '\\') {
        const next = line[i + 1];
        value += next === 'n' ? '\n' : next;
        i += 2;
      } else {
        value += line[i];
        i += 1;
      }
    }
    labels[key] = value;
    i += 1; // past closing quote
    if (line[i] === ',') i += 1;
  }
  return { name, labels, value: line.slice(i + 2).split(' ')[0]! };
}

/** The samples of one metric name whose labels include `match`. */
export function find(exposition: Exposition, name: string, match: Record<string, string> = {}): Sample[] {
  return exposition.samples.filter(
    (s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v),
  );
}
