/**
 * A version's model card: the front matter's metadata as a table (the well-known fields
 * first, the rest as keys and short values), then the Markdown body. A front matter that
 * cannot be read is named as such and the body still renders.
 */
import { otherFields, parseModelCard, type CardMetadata, type JsonValue } from "../domain/model-card";
import { Notice } from "./components";
import { Markdown } from "./markdown";

/** A README larger than this is not rendered (the page says so; the Files table links it). */
export const MAX_CARD_BYTES = 256 * 1024;
/** Longer values (a `model-index` with every benchmark) are cut: the full text is in README.md. */
const MAX_VALUE_CHARS = 300;
/** Fields beyond the well-known ones shown; a card may have thousands, the table stays small. */
const MAX_OTHER_FIELDS = 50;

const short = (value: JsonValue): string => {
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
};

const LABELS: [keyof CardMetadata, string][] = [
  ["license", "License"],
  ["library_name", "Library"],
  ["pipeline_tag", "Pipeline tag"],
  ["base_model", "Base model"],
  ["datasets", "Datasets"],
  ["language", "Languages"],
  ["tags", "Tags"],
];

function Metadata({ metadata, rest }: { metadata: CardMetadata; rest: [string, JsonValue][] }) {
  const rows = LABELS.flatMap(([field, label]) => {
    const value = metadata[field];
    const values = value === null ? [] : typeof value === "string" ? [value] : value;
    return values.length === 0 ? [] : [{ label, values }];
  });
  const shown = rest.slice(0, MAX_OTHER_FIELDS);
  if (rows.length === 0 && rest.length === 0) return null;
  return (
    <section aria-label="Card metadata">
      <table class="card-meta">
        <tbody>
          {rows.map((row) => (
            <tr>
              <th scope="row">{row.label}</th>
              <td>
                {row.values.map((v) => (
                  <span class="badge">{v}</span>
                ))}
              </td>
            </tr>
          ))}
          {shown.map(([key, value]) => (
            <tr>
              <th scope="row">{key}</th>
              <td class="mono">{short(value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {rest.length > shown.length && (
        <p class="muted">{`and ${rest.length - shown.length} more fields (see README.md)`}</p>
      )}
    </section>
  );
}

export function ModelCard({ source }: { source: string }) {
  const card = parseModelCard(source);
  return (
    <>
      {card.error !== null && (
        <Notice kind="info">{`The card's metadata (its YAML front matter) could not be read: ${card.error}.`}</Notice>
      )}
      {card.data !== null && <Metadata metadata={card.metadata} rest={otherFields(card.data)} />}
      <Markdown source={card.body} />
    </>
  );
}
