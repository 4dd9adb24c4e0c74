/**
 * Units with exact factors taken from their definitions (SI 2019, the 1959 international yard and
 * pound, US customary and imperial volume definitions). A value converts to the base unit as
 * base = (value + offset) × numerator / denominator; only temperatures have an offset.
 */

export const DIMENSIONS = [
  "length",
  "mass",
  "time",
  "temperature",
  "volume",
  "area",
  "speed",
  "data",
  "pressure",
  "energy",
] as const;
export type Dimension = (typeof DIMENSIONS)[number];

export interface UnitDefinition {
  symbol: string;
  name: string;
  dimension: Dimension;
  aliases: string[];
  numerator: string;
  denominator: string;
  offset: string;
}

export const BASE_UNIT: Record<Dimension, string> = {
  length: "m",
  mass: "kg",
  time: "s",
  temperature: "K",
  volume: "m3",
  area: "m2",
  speed: "m/s",
  data: "bit",
  pressure: "Pa",
  energy: "J",
};

type Row = [symbol: string, name: string, factor: string, aliases?: string[]];

function unitsOf(dimension: Dimension, rows: Row[]): UnitDefinition[] {
  return rows.map(([symbol, name, factor, aliases = []]) => {
    const [numerator, denominator = "1"] = factor.split("/") as [string, string?];
    return { symbol, name, dimension, aliases, numerator, denominator, offset: "0" };
  });
}

const LBF_NEWTONS = "4.4482216152605"; // 0.45359237 kg × 9.80665 m/s²

function twoTo(power: bigint, times: bigint): string {
  return (2n ** power * times).toString();
}

export const UNITS: UnitDefinition[] = [
  ...unitsOf("length", [
    ["m", "metre", "1", ["meter", "meters", "metre", "metres"]],
    ["km", "kilometre", "1000", ["kilometer", "kilometers"]],
    ["cm", "centimetre", "0.01", ["centimeter", "centimeters"]],
    ["mm", "millimetre", "0.001", ["millimeter", "millimeters"]],
    ["um", "micrometre", "0.000001", ["µm", "μm", "micrometer", "micron"]],
    ["nm", "nanometre", "0.000000001", ["nanometer"]],
    ["in", "inch", "0.0254", ["inch", "inches"]],
    ["ft", "foot", "0.3048", ["foot", "feet"]],
    ["yd", "yard", "0.9144", ["yard", "yards"]],
    ["mi", "mile (international)", "1609.344", ["mile", "miles"]],
    ["nmi", "nautical mile", "1852", ["nautical_mile"]],
    ["au", "astronomical unit", "149597870700", ["AU"]],
    ["ly", "light-year (Julian year × c)", "9460730472580800", ["light_year"]],
  ]),
  ...unitsOf("mass", [
    ["kg", "kilogram", "1", ["kilogram", "kilograms"]],
    ["g", "gram", "0.001", ["gram", "grams"]],
    ["mg", "milligram", "0.000001", ["milligram"]],
    ["ug", "microgram", "0.000000001", ["µg", "μg", "microgram"]],
    ["t", "tonne", "1000", ["tonne", "metric_ton"]],
    ["lb", "pound (avoirdupois)", "0.45359237", ["pound", "pounds", "lbs"]],
    ["oz", "ounce (avoirdupois)", "0.028349523125", ["ounce", "ounces"]],
    ["st", "stone", "6.35029318", ["stone"]],
    ["short_ton", "short ton (2000 lb)", "907.18474", ["us_ton"]],
    ["long_ton", "long ton (2240 lb)", "1016.0469088", ["uk_ton"]],
  ]),
  ...unitsOf("time", [
    ["s", "second", "1", ["second", "seconds", "sec"]],
    ["ms", "millisecond", "0.001", ["millisecond"]],
    ["us", "microsecond", "0.000001", ["µs", "μs", "microsecond"]],
    ["ns", "nanosecond", "0.000000001", ["nanosecond"]],
    ["min", "minute", "60", ["minute", "minutes"]],
    ["h", "hour", "3600", ["hour", "hours", "hr"]],
    ["d", "day", "86400", ["day", "days"]],
    ["wk", "week", "604800", ["week", "weeks"]],
    ["yr", "Julian year (365.25 d)", "31557600", ["year", "years"]],
  ]),
  {
    symbol: "K",
    name: "kelvin",
    dimension: "temperature",
    aliases: ["kelvin"],
    numerator: "1",
    denominator: "1",
    offset: "0",
  },
  {
    symbol: "degC",
    name: "degree Celsius",
    dimension: "temperature",
    aliases: ["°C", "C", "celsius"],
    numerator: "1",
    denominator: "1",
    offset: "273.15",
  },
  {
    symbol: "degF",
    name: "degree Fahrenheit",
    dimension: "temperature",
    aliases: ["°F", "F", "fahrenheit"],
    numerator: "5",
    denominator: "9",
    offset: "459.67",
  },
  {
    symbol: "degR",
    name: "degree Rankine",
    dimension: "temperature",
    aliases: ["°R", "R", "rankine"],
    numerator: "5",
    denominator: "9",
    offset: "0",
  },
  ...unitsOf("volume", [
    ["m3", "cubic metre", "1", ["m³", "cubic_meter"]],
    ["L", "litre", "0.001", ["l", "litre", "liter", "liters", "litres"]],
    ["mL", "millilitre", "0.000001", ["ml", "milliliter", "millilitre"]],
    ["cm3", "cubic centimetre", "0.000001", ["cm³", "cc"]],
    ["mm3", "cubic millimetre", "0.000000001", ["mm³"]],
    ["km3", "cubic kilometre", "1000000000", ["km³"]],
    ["gal", "US gallon (231 in³)", "0.003785411784", ["us_gallon", "gallon"]],
    ["qt", "US liquid quart", "0.000946352946", ["quart"]],
    ["pt", "US liquid pint", "0.000473176473", ["pint"]],
    ["cup", "US cup (8 US fl oz)", "0.0002365882365", []],
    ["fl_oz", "US fluid ounce", "0.0000295735295625", ["floz"]],
    ["tbsp", "US tablespoon", "0.00001478676478125", ["tablespoon"]],
    ["tsp", "US teaspoon", "0.00000492892159375", ["teaspoon"]],
    ["imp_gal", "imperial gallon", "0.00454609", ["uk_gallon"]],
    ["imp_pt", "imperial pint", "0.00056826125", ["uk_pint"]],
    ["ft3", "cubic foot", "0.028316846592", ["ft³", "cubic_foot"]],
    ["in3", "cubic inch", "0.000016387064", ["in³", "cubic_inch"]],
    ["yd3", "cubic yard", "0.764554857984", ["yd³"]],
  ]),
  ...unitsOf("area", [
    ["m2", "square metre", "1", ["m²", "square_meter"]],
    ["km2", "square kilometre", "1000000", ["km²"]],
    ["cm2", "square centimetre", "0.0001", ["cm²"]],
    ["mm2", "square millimetre", "0.000001", ["mm²"]],
    ["ha", "hectare", "10000", ["hectare"]],
    ["acre", "acre (international)", "4046.8564224", ["acres"]],
    ["ft2", "square foot", "0.09290304", ["ft²", "sq_ft"]],
    ["in2", "square inch", "0.00064516", ["in²", "sq_in"]],
    ["yd2", "square yard", "0.83612736", ["yd²"]],
    ["mi2", "square mile", "2589988.110336", ["mi²", "sq_mi"]],
  ]),
  ...unitsOf("speed", [
    ["m/s", "metre per second", "1", ["mps"]],
    ["km/h", "kilometre per hour", "1000/3600", ["kph", "kmh"]],
    ["mph", "mile per hour", "1609.344/3600", ["mi/h"]],
    ["kn", "knot (nautical mile per hour)", "1852/3600", ["knot", "knots", "kt"]],
    ["ft/s", "foot per second", "0.3048", ["fps"]],
  ]),
  ...unitsOf("data", [
    ["bit", "bit", "1", ["bits", "b"]],
    ["B", "byte (8 bits)", "8", ["byte", "bytes"]],
    ["kB", "kilobyte (10³ B)", "8000", ["KB"]],
    ["MB", "megabyte (10⁶ B)", "8000000", []],
    ["GB", "gigabyte (10⁹ B)", "8000000000", []],
    ["TB", "terabyte (10¹² B)", "8000000000000", []],
    ["PB", "petabyte (10¹⁵ B)", "8000000000000000", []],
    ["EB", "exabyte (10¹⁸ B)", "8000000000000000000", []],
    ["KiB", "kibibyte (2¹⁰ B)", twoTo(10n, 8n), []],
    ["MiB", "mebibyte (2²⁰ B)", twoTo(20n, 8n), []],
    ["GiB", "gibibyte (2³⁰ B)", twoTo(30n, 8n), []],
    ["TiB", "tebibyte (2⁴⁰ B)", twoTo(40n, 8n), []],
    ["PiB", "pebibyte (2⁵⁰ B)", twoTo(50n, 8n), []],
    ["EiB", "exbibyte (2⁶⁰ B)", twoTo(60n, 8n), []],
    ["kbit", "kilobit", "1000", ["kb"]],
    ["Mbit", "megabit", "1000000", ["Mb"]],
    ["Gbit", "gigabit", "1000000000", ["Gb"]],
    ["Tbit", "terabit", "1000000000000", ["Tb"]],
    ["Kibit", "kibibit", twoTo(10n, 1n), []],
    ["Mibit", "mebibit", twoTo(20n, 1n), []],
    ["Gibit", "gibibit", twoTo(30n, 1n), []],
    ["Tibit", "tebibit", twoTo(40n, 1n), []],
  ]),
  ...unitsOf("pressure", [
    ["Pa", "pascal", "1", ["pascal"]],
    ["hPa", "hectopascal", "100", []],
    ["kPa", "kilopascal", "1000", []],
    ["MPa", "megapascal", "1000000", []],
    ["bar", "bar", "100000", []],
    ["mbar", "millibar", "100", []],
    ["atm", "standard atmosphere", "101325", []],
    ["torr", "torr (1/760 atm)", "101325/760", ["Torr"]],
    ["mmHg", "conventional millimetre of mercury", "133.322387415", []],
    ["inHg", "conventional inch of mercury", "3386.388640341", []],
    ["psi", "pound-force per square inch", `${LBF_NEWTONS}/0.00064516`, ["lbf/in2"]],
  ]),
  ...unitsOf("energy", [
    ["J", "joule", "1", ["joule", "joules"]],
    ["kJ", "kilojoule", "1000", []],
    ["MJ", "megajoule", "1000000", []],
    ["GJ", "gigajoule", "1000000000", []],
    ["Wh", "watt-hour", "3600", []],
    ["kWh", "kilowatt-hour", "3600000", []],
    ["MWh", "megawatt-hour", "3600000000", []],
    ["cal", "thermochemical calorie", "4.184", ["calorie"]],
    ["kcal", "thermochemical kilocalorie", "4184", ["Cal"]],
    ["eV", "electronvolt", "1.602176634e-19", ["electronvolt"]],
    ["BTU", "British thermal unit (IT)", "1055.05585262", ["Btu"]],
    ["erg", "erg", "1e-7", []],
    ["ft_lbf", "foot-pound force", "1.3558179483314004", ["ft·lbf", "ft-lbf"]],
  ]),
];

/** Describes a unit's definition for list_units, e.g. "1 in = 0.0254 m". */
export function describeDefinition(unit: UnitDefinition): string {
  const base = BASE_UNIT[unit.dimension];
  const factor =
    unit.denominator === "1" ? unit.numerator : `${unit.numerator}/${unit.denominator}`;
  if (unit.offset !== "0") return `${base} = (${unit.symbol} + ${unit.offset}) × ${factor}`;
  return `1 ${unit.symbol} = ${factor} ${base}`;
}
